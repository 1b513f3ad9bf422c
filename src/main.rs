//! The `smileloop` command (see `smileloop::cli`): `serve` runs the kiosk,
//! `animate` renders one photo from the command line (and is the
//! benchmark's entry point).

fn main() -> std::process::ExitCode {
    smileloop::cli::main()
}
