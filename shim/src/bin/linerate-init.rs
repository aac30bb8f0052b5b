//! linerate-init: the first process of a linerate container. See
//! `linerate_shim::init` for its arguments and exit codes.

fn main() {
    let args = std::env::args_os().skip(1);
    let err = match linerate_shim::init::parse(args) {
        Ok(args) => {
            let container = args.container.clone();
            let err = linerate_shim::init::run(args);
            eprintln!(
                "{}",
                linerate_shim::init::error_line(container.as_deref(), &err)
            );
            err
        }
        Err(err) => {
            eprintln!("{}", linerate_shim::init::error_line(None, &err));
            err
        }
    };
    std::process::exit(err.exit_code());
}
