//! The threads that run jobs: a fixed set, so the number of jobs running at
//! once is bounded however many commits and jobs there are. A task moves its
//! thread into its job's cgroup for the run (see `fanout`).

use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

type Task = Box<dyn FnOnce() + Send + 'static>;

/// A fixed pool of job threads.
pub struct Workers {
    tasks: Option<Sender<Task>>,
    threads: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Starts `n` threads; `on_start` runs first on each (e.g. to move it
    /// into the idle cgroup).
    pub fn start(n: usize, on_start: impl Fn() + Send + Sync + Clone + 'static) -> Workers {
        let (tx, rx): (Sender<Task>, Receiver<Task>) = crossbeam_channel::unbounded();
        let threads = (0..n.max(1))
            .map(|i| {
                let rx = rx.clone();
                let on_start = on_start.clone();
                std::thread::Builder::new()
                    .name(format!("epochd-job-{i}"))
                    .spawn(move || {
                        on_start();
                        for task in rx {
                            task();
                        }
                    })
                    .expect("spawning a job thread")
            })
            .collect();
        Workers {
            tasks: Some(tx),
            threads,
        }
    }

    /// Queues a task.
    pub fn spawn(&self, task: impl FnOnce() + Send + 'static) {
        if let Some(tasks) = &self.tasks {
            // The receivers live as long as `self`: sending cannot fail.
            let _ = tasks.send(Box::new(task));
        }
    }

    /// Threads in the pool.
    pub fn len(&self) -> usize {
        self.threads.len()
    }

    /// Never empty; for clippy's sake.
    pub fn is_empty(&self) -> bool {
        self.threads.is_empty()
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        // Closing the queue ends each thread after the tasks already queued.
        self.tasks = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// CPU time the calling thread has used.
pub fn thread_cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}
