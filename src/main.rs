//! The `pgfleet` binary: everything is in the library (`app::main`).

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(pgfleet::app::main(std::env::args_os()) as u8)
}
