//! The `pgfleet` binary: parse flags, run, map the outcome to an exit code.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = match pgfleet::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Help and version are not errors; bad flags are bad input (exit 3).
            return std::process::ExitCode::from(if e.use_stderr() {
                pgfleet::ExitCode::BadInput as u8
            } else {
                0
            });
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(pgfleet::ExitCode::Failed as u8);
        }
    };
    let code = match runtime.block_on(pgfleet::cli::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            pgfleet::report::Report::default().error(&e);
            e.exit_code()
        }
    };
    std::process::ExitCode::from(code as u8)
}
