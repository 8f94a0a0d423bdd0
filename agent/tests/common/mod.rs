//! Scaffolding shared by the agent's integration tests: a `sas-agent serve` child process, and one full
//! interval of fake-job reports. Each test file uses what it needs (`mod common;`).
#![allow(dead_code)]

use sas_agent::fake_job;
use sas_agent::pb;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a child process may take to log, serve or exit before the test fails.
pub const LIMIT: Duration = Duration::from_secs(30);

/// A `sas-agent serve` child process and everything it wrote so far (its log goes to stdout, its
/// errors to stderr). Dropping it kills a process still running, so a failed test leaves no server.
pub struct Served {
    child: Child,
    log: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Served {
    /// Starts `sas-agent serve --config <config> <extra>`; two threads collect its output.
    pub fn start(config: &Path, extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sas-agent"))
            .args(["serve", "--config"])
            .arg(config)
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sas-agent serve");
        let log = Arc::new(Mutex::new(String::new()));
        let collect = |pipe: Box<dyn std::io::Read + Send>| {
            let sink = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let mut log = sink.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
            })
        };
        let readers = vec![
            collect(Box::new(child.stdout.take().expect("stdout is piped"))),
            collect(Box::new(child.stderr.take().expect("stderr is piped"))),
        ];
        Self { child, log, readers }
    }

    /// Everything the process wrote so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Panics (with the log) if the process has already exited.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("sas-agent exited early ({status}):\n{}", self.log());
        }
    }

    /// Sends `signal` to the process.
    pub fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill has no memory preconditions; the pid is our own child, not yet reaped.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "kill({pid}, {signal})");
    }

    /// The exit status once the process has exited, with the rest of its output collected; kills it and
    /// panics once `deadline` has passed.
    fn exited_by(&mut self, deadline: Instant) -> Option<ExitStatus> {
        if let Some(status) = self.child.try_wait().unwrap() {
            // The pipes close with the process: the readers end.
            for reader in self.readers.drain(..) {
                let _ = reader.join();
            }
            return Some(status);
        }
        if Instant::now() > deadline {
            let _ = self.child.kill();
            panic!("sas-agent did not exit within {LIMIT:?}:\n{}", self.log());
        }
        None
    }

    /// Waits for the process to exit (blocking the thread), see [`Served::exit`].
    pub fn exit_blocking(&mut self) -> ExitStatus {
        let deadline = Instant::now() + LIMIT;
        loop {
            if let Some(status) = self.exited_by(deadline) {
                return status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the process to exit, then for the rest of its output; kills it and panics after
    /// `LIMIT`. The runtime keeps serving the test's own clients meanwhile.
    pub async fn exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + LIMIT;
        loop {
            if let Some(status) = self.exited_by(deadline) {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the output contains `needle`; panics if the process exits first or after `LIMIT`.
    pub fn wait_for(&mut self, needle: &str) {
        let deadline = Instant::now() + LIMIT;
        while !self.log().contains(needle) {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("exited ({status}) before logging {needle:?}:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} within {LIMIT:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Reports all `workers` and the one router for `interval`, so the step closes at once. Worker loads
/// vary with worker and interval, so every step's observation differs.
pub async fn report_step(
    client: &mut pb::agent_client::AgentClient<tonic::transport::Channel>,
    session: &str,
    interval: u64,
    workers: u32,
) {
    for w in 0..workers {
        let busy = 20.0 + f64::from((w * 13 + interval as u32 * 7) % 80);
        client
            .report_worker(fake_job::worker_report(session, interval, w, busy))
            .await
            .unwrap();
    }
    let counts = (0..u64::from(workers)).rev().map(|w| 100 * (w + 1)).collect();
    client
        .report_router(fake_job::router_report(session, interval, counts))
        .await
        .unwrap();
}
