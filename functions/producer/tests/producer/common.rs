//! Test doubles shared by the producer's integration tests.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use lambda_kit::emf::{Captured, Metrics, MetricsConfig};
use producer::{FetchError, PublishError, Publisher, UserSource, randomuser::FetchedUsers};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};
use user_record::UserRecord;

/// The error librdkafka's message timeout gives a run whose first `delivered` of `records`
/// were acknowledged and the rest not.
pub fn timed_out_delivery(records: &[UserRecord], delivered: usize) -> PublishError {
    PublishError::Delivery {
        topic: "users_created".into(),
        attempted: records.len(),
        delivered,
        failed: records.len() - delivered,
        first_key: records[delivered].key(),
        source: Box::new(rdkafka::error::KafkaError::MessageProduction(
            rdkafka::types::RDKafkaErrorCode::MessageTimedOut,
        )),
    }
}

pub fn fixture(name: &str) -> serde_json::Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

pub fn event(name: &str) -> producer::ScheduledEvent {
    let path = format!(
        "{}/../../events/producer/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A metrics emitter with the default settings whose lines are kept in memory.
pub fn captured_metrics(env: &[(&str, &str)]) -> (Metrics, Captured) {
    Metrics::captured(MetricsConfig::from_source(&env.to_vec(), "producer").unwrap())
}

/// A metrics emitter for tests that do not look at the summary line.
pub fn quiet_metrics() -> Metrics {
    captured_metrics(&[]).0
}

/// Serves the users of a fixture, cycling through them to fill any page, up to `total` users
/// in all if set (a later page is short, then empty), and records the pages asked for as
/// (page, size).
pub struct FixtureUsers {
    pub users: Vec<serde_json::Value>,
    pub total: Option<usize>,
    pub asked: Mutex<Vec<(usize, usize)>>,
}

impl FixtureUsers {
    pub fn new(name: &str) -> Self {
        let users = fixture(name)["results"].as_array().unwrap().clone();
        Self {
            users,
            total: None,
            asked: Mutex::new(Vec::new()),
        }
    }
}

impl UserSource for FixtureUsers {
    async fn fetch_page(&self, page: usize, size: usize) -> Result<FetchedUsers, FetchError> {
        self.asked.lock().unwrap().push((page, size));
        let first = (page - 1) * size;
        let end = self
            .total
            .map_or(first + size, |total| total.min(first + size));
        let users = (first..end.max(first))
            .map(|i| self.users[i % self.users.len()].clone())
            .collect();
        Ok(FetchedUsers { users, retries: 0 })
    }
}

/// Keeps what it is given.
#[derive(Default)]
pub struct MemoryPublisher {
    pub published: Mutex<Vec<UserRecord>>,
}

impl Publisher for MemoryPublisher {
    async fn publish(
        &self,
        records: &[UserRecord],
        acknowledged: &std::sync::atomic::AtomicUsize,
    ) -> Result<usize, PublishError> {
        self.published.lock().unwrap().extend_from_slice(records);
        acknowledged.fetch_add(records.len(), std::sync::atomic::Ordering::Relaxed);
        Ok(records.len())
    }

    fn topic(&self) -> &str {
        "users_created"
    }
}

/// One scripted HTTP answer: status, extra headers, body.
pub type Answer = (u16, Vec<(&'static str, String)>, String);

/// A real HTTP server on 127.0.0.1 that gives scripted answers in order (the last one
/// repeats) and records each request's path and query.
pub struct ScriptedServer {
    pub url: String,
    pub requests: Arc<Mutex<Vec<String>>>,
}

pub async fn serve(answers: Vec<Answer>) -> ScriptedServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/", listener.local_addr().unwrap());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    tokio::spawn(async move {
        let mut index = 0;
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = socket.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                head.extend_from_slice(&buf[..n]);
            }
            let line = String::from_utf8_lossy(&head)
                .lines()
                .next()
                .unwrap_or("")
                .to_string();
            seen.lock()
                .unwrap()
                .push(line.split(' ').nth(1).unwrap_or("").to_string());
            let (status, headers, body) = answers[index.min(answers.len() - 1)].clone();
            index += 1;
            // A `Transfer-Encoding: chunked` answer is sent as one chunk, with no length.
            let chunked = headers.iter().any(|(name, _)| *name == "Transfer-Encoding");
            let mut response = format!("HTTP/1.1 {status} X\r\nConnection: close\r\n");
            if !chunked {
                response.push_str(&format!("Content-Length: {}\r\n", body.len()));
            }
            for (name, value) in headers {
                response.push_str(&format!("{name}: {value}\r\n"));
            }
            response.push_str("\r\n");
            if chunked {
                response.push_str(&format!("{:x}\r\n{body}\r\n0\r\n\r\n", body.len()));
            } else {
                response.push_str(&body);
            }
            let _ = socket.write_all(response.as_bytes()).await;
            let _ = socket.shutdown().await;
        }
    });
    ScriptedServer { url, requests }
}
