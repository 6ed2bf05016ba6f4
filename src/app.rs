//! The program, from the command line to the exit code: flags (`cli`) → validated settings
//! (`settings`) → the run (`runner`), its events rendered by `report`.

use crate::cli::Parts;
use crate::error::ExitCode;
use crate::report::Report;
use crate::settings::{Action, DryRun, Options, Run};

/// Runs pgfleet with these arguments (the program name first) and returns its exit code.
pub fn main(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    // A panic message may quote what it was handling: through the redaction too.
    std::panic::set_hook(Box::new(|info| {
        eprintln!(
            "pgfleet crashed, which is a bug (please report it): {}",
            crate::transport::redact(&info.to_string())
        );
    }));
    let args: Vec<std::ffi::OsString> = args.into_iter().collect();
    let cli = match crate::cli::parse(&args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = ExitCode::of_usage(&e);
            match json_asked(&args) {
                // Scripts that asked for JSON get a document for bad flags too.
                Some(format) if code != ExitCode::Ok => {
                    let text = e.render().to_string();
                    let message = text.trim().trim_start_matches("error: ").to_string();
                    let report = Report::new(crate::settings::Output {
                        format,
                        ..Default::default()
                    });
                    report.fatal(None, &crate::error::Error::Usage(message));
                }
                // Help and --version as clap prints them; an error may quote an argument
                // (a URL given where a flag was meant): through the redaction.
                _ if code == ExitCode::Ok => {
                    let _ = e.print();
                }
                _ => eprint!("{}", crate::transport::redact(&e.render().to_string())),
            }
            return code;
        }
    };
    let (action, options) = match cli.into_parts() {
        Parts::Run(run) => *run,
        Parts::Completions(shell) => {
            crate::cli::completions(shell, &mut std::io::stdout().lock());
            return ExitCode::Ok;
        }
        Parts::Man(dir) => return man(dir.as_deref()),
    };
    let report = Report::new(options.output.clone());
    let verb = action.verb();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            let error = crate::error::Error::Io {
                what: "cannot start the async runtime".into(),
                error: e,
            };
            report.fatal(Some(verb), &error);
            return error.exit_code();
        }
    };
    let outcome = match action {
        Action::Change(_) => change(action, options, &report, &runtime),
        action => match Run::new(action, options) {
            Ok(run) => runtime.block_on(crate::runner::run(&run, &report)),
            Err(e) => Err(e),
        },
    };
    // A run abandoned by a second Ctrl-C leaves tasks behind (connections, sessions):
    // they end with the process, without being waited for.
    runtime.shutdown_background();
    match outcome {
        Ok(code) => code,
        Err(e) => {
            report.fatal(Some(verb), &e);
            e.exit_code()
        }
    }
}

/// `pgfleet man`: the page to stdout, or every page into `dir` (saying where).
fn man(dir: Option<&std::path::Path>) -> ExitCode {
    let written = match dir {
        None => crate::cli::man(&mut std::io::stdout().lock()),
        Some(dir) => crate::cli::man_pages(dir),
    };
    match written {
        Ok(()) => {
            if let Some(dir) = dir {
                eprintln!(
                    "wrote pgfleet.1 and a page per command into {}",
                    dir.display()
                );
            }
            ExitCode::Ok
        }
        // A closed pipe (`pgfleet man | head`) is not a failure.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::Ok,
        Err(e) => {
            let error = crate::error::Error::Io {
                what: match dir {
                    Some(dir) => format!("cannot write the man pages into {}", dir.display()),
                    None => "cannot write the man page".into(),
                },
                error: e,
            };
            crate::report::Report::new(Default::default()).fatal(None, &error);
            error.exit_code()
        }
    }
}

/// `--format json` or `json-lines` among arguments that did not parse.
fn json_asked(args: &[std::ffi::OsString]) -> Option<crate::settings::Format> {
    use crate::settings::Format;
    let words: Vec<&str> = args.iter().filter_map(|a| a.to_str()).collect();
    let value = words.iter().enumerate().find_map(|(i, w)| {
        w.strip_prefix("--format=").or_else(|| {
            (*w == "--format")
                .then(|| words.get(i + 1).copied())
                .flatten()
        })
    })?;
    match value {
        "json" => Some(Format::Json),
        "json-lines" => Some(Format::JsonLines),
        _ => None,
    }
}

/// `change`: the file written and checked (`runner::change::prepare`), then `plan` as the
/// plan command shows it, a one-key confirmation on the terminal (or `--yes`), then `up`
/// exactly as `up` runs — each a run of its own, read from the folder the file is now in.
fn change(
    action: Action,
    options: Options,
    report: &Report,
    runtime: &tokio::runtime::Runtime,
) -> Result<ExitCode, crate::error::Error> {
    use crate::runner::{RunEvent, Sink};
    let run = Run::new(action, options.clone())?;
    let Action::Change(args) = &run.action else {
        unreachable!("change() is called with a change")
    };
    let stop = crate::stop::Stop::default();
    let prepared = runtime.block_on(crate::runner::change::prepare(&run, report, &stop))?;
    if prepared.refused {
        // The up gate would refuse it on every target: say so once, here.
        report.event(RunEvent::ChangeDone {
            path: &prepared.path,
            applied: false,
        });
        return Ok(ExitCode::Refused);
    }
    if args.dry_run {
        return Ok(ExitCode::Ok);
    }
    let up = crate::plan::UpOptions::default();
    let plan = Run::new(
        Action::Plan {
            options: up,
            mode: DryRun::Summary,
        },
        options.clone(),
    )?;
    let code = runtime.block_on(crate::runner::run(&plan, report))?;
    if code != ExitCode::Ok {
        return Ok(code);
    }
    if !args.yes {
        report.event(RunEvent::Asking {
            path: &prepared.path,
            targets: plan.targets.len(),
        });
        let key = console::Term::stderr().read_char().unwrap_or('n');
        if !matches!(key, 'y' | 'Y') {
            report.event(RunEvent::ChangeDone {
                path: &prepared.path,
                applied: false,
            });
            return Ok(ExitCode::Refused);
        }
    }
    let apply = Run::new(Action::Up { options: up }, options)?;
    let code = runtime.block_on(crate::runner::run(&apply, report))?;
    report.event(RunEvent::ChangeDone {
        path: &prepared.path,
        applied: code == ExitCode::Ok,
    });
    Ok(code)
}
