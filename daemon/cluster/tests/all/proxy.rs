//! A TCP proxy in front of etcd that a test can cut and restore: a watch
//! stream through it breaks at a moment the test chooses and stays down
//! until the test says, while the test changes etcd through a direct
//! client meanwhile (what a network partition does to one node).

use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

#[derive(Default)]
struct State {
    open: bool,
    connections: Vec<JoinHandle<()>>,
}

/// A proxy on a loopback port of its own.
pub struct Proxy {
    port: u16,
    state: Arc<Mutex<State>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    /// Forwards a port of its own to `target` (`http://host:port`).
    pub async fn start(target: &str) -> Proxy {
        let target = target.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State {
            open: true,
            connections: Vec::new(),
        }));
        let accept = tokio::spawn({
            let state = state.clone();
            async move {
                loop {
                    let Ok((mut downstream, _)) = listener.accept().await else {
                        continue;
                    };
                    // Checked and recorded under one lock, so `cut` never
                    // misses a connection accepted at the same time.
                    let mut state = state.lock().unwrap();
                    if !state.open {
                        drop(downstream);
                        continue;
                    }
                    let target = target.clone();
                    state.connections.push(tokio::spawn(async move {
                        if let Ok(mut upstream) = TcpStream::connect(&target).await {
                            let _ =
                                tokio::io::copy_bidirectional(&mut downstream, &mut upstream).await;
                        }
                    }));
                }
            }
        });
        Proxy {
            port,
            state,
            accept,
        }
    }

    /// The URL to give a client.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Closes every connection through it and refuses new ones.
    pub fn cut(&self) {
        let mut state = self.state.lock().unwrap();
        state.open = false;
        for connection in state.connections.drain(..) {
            connection.abort();
        }
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.state.lock().unwrap().open = true;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}
