//! An srp-target server on a thread of the calling process, configured from
//! command-line options (plus `--listen 127.0.0.1:0`), with its log lines
//! collected: what the network tests drive our initiator against.

use super::options::Options;
use super::server::{Control, Server, STACK};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

type Log = Arc<Mutex<Vec<String>>>;

/// A running in-process server; stop it with [`InProcess::stop`].
pub struct InProcess {
    /// The TCP port QEMU-framed links connect to.
    pub port: u16,
    ctl: Control,
    log: Log,
    handle: Option<JoinHandle<()>>,
}

impl InProcess {
    /// Starts a server from `args` (srp-target's options, minus `--listen`).
    pub fn serve(args: &[&str]) -> InProcess {
        let mut a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        a.extend(["--listen".into(), "127.0.0.1:0".into()]);
        let opts = Options::parse(&a).expect("options");
        let log: Log = Arc::default();
        let ctl = Control::new();
        let (tx, rx) = std::sync::mpsc::channel();
        let l2 = log.clone();
        let handle = std::thread::Builder::new()
            .stack_size(STACK)
            .spawn(move || {
                let mut t = opts.target().expect("target");
                let l3 = l2.clone();
                t.set_log(Box::new(move |s| l3.lock().unwrap().push(s.to_string())));
                let mut s = Server::new(t, opts.net(), opts.transport().expect("transport"));
                let l4 = l2.clone();
                s.log = Box::new(move |s| l4.lock().unwrap().push(s.to_string()));
                l2.lock().unwrap().push(opts.summary(&s.target, &s));
                tx.send(s.local_addr().unwrap().port()).unwrap();
                s.run(&ctl);
            })
            .unwrap();
        let port = rx.recv().unwrap();
        InProcess {
            port,
            ctl,
            log,
            handle: Some(handle),
        }
    }

    /// Everything logged so far, one line per entry.
    pub fn all(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// The log lines containing `pat`.
    pub fn lines(&self, pat: &str) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(pat))
            .cloned()
            .collect()
    }

    /// Waits (up to 10 s) until `n` log lines contain `pat`.
    pub fn wait_for(&self, pat: &str, n: usize) {
        for _ in 0..500 {
            if self.lines(pat).len() >= n {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("no {n} x {pat:?} in the target log:\n{}", self.all());
    }

    /// Stops the server and returns its log.
    pub fn stop(mut self) -> Vec<String> {
        self.ctl
            .stop
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.handle.take().unwrap().join().unwrap();
        self.log.lock().unwrap().clone()
    }
}
