//! `srp-target`: serve disk images as SRP LUNs over RoCEv2 from user space.
//! See `tools::srptarget` and `--help`.

use std::sync::atomic::{AtomicBool, Ordering};

use tools::srptarget::options::{Options, USAGE};
use tools::srptarget::server::{Control, Server, STACK};

static STOP: AtomicBool = AtomicBool::new(false);
static DUMP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

extern "C" fn on_dump(_: libc::c_int) {
    DUMP.store(true, Ordering::Relaxed);
}

fn install() {
    // SAFETY: the handlers only store to atomics (async-signal-safe).
    unsafe {
        libc::signal(libc::SIGINT, on_stop as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_stop as *const () as libc::sighandler_t);
        libc::signal(libc::SIGUSR1, on_dump as *const () as libc::sighandler_t);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match Options::parse(&args) {
        Ok(o) => o,
        Err(Ok(_)) => {
            println!("{USAGE}");
            return;
        }
        Err(Err(msg)) => {
            eprintln!("srp-target: {msg}");
            eprintln!("(srp-target --help for the options)");
            std::process::exit(2);
        }
    };
    // The HCA of a link is several MiB and is built by value: run on a
    // thread with a large stack.
    let code = std::thread::Builder::new()
        .name("srp-target".into())
        .stack_size(STACK)
        .spawn(move || run(opts))
        .expect("spawn")
        .join()
        .unwrap_or(1);
    std::process::exit(code);
}

fn run(opts: Options) -> i32 {
    let target = match opts.target() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("srp-target: {e}");
            return 1;
        }
    };
    let transport = match opts.transport() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("srp-target: {e}");
            return 1;
        }
    };
    let mut server = Server::new(target, opts.net(), transport);
    println!("{}", opts.summary(&server.target, &server));
    install();
    server.run(&Control {
        stop: &STOP,
        dump: &DUMP,
    });
    0
}
