//! The program, from the command line to the exit code: flags (`cli`) → validated settings
//! (`settings`) → the run (`runner`), its events rendered by `report`.

use crate::cli::Cli;
use crate::error::ExitCode;
use crate::report::Report;
use crate::settings::Run;

/// Runs pgfleet with these arguments (the program name first) and returns its exit code.
pub fn main(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    use clap::Parser;
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::of_usage(&e);
        }
    };
    let (action, options) = cli.into_parts();
    let report = Report::new(options.output.clone());
    let verb = action.verb();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            let error = crate::error::Error::Io {
                what: "cannot start the async runtime".into(),
                error: e,
            };
            report.fatal(verb, &error);
            return error.exit_code();
        }
    };
    let outcome = match Run::new(action, options) {
        Ok(run) => runtime.block_on(crate::runner::run(&run, &report)),
        Err(e) => Err(e),
    };
    // A run abandoned by a second Ctrl-C leaves tasks behind (connections, sessions):
    // they end with the process, without being waited for.
    runtime.shutdown_background();
    match outcome {
        Ok(code) => code,
        Err(e) => {
            report.fatal(verb, &e);
            e.exit_code()
        }
    }
}
