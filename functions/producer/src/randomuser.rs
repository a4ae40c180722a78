//! Fetching users from a randomuser.me-compatible API: the `UserSource` boundary (one page of
//! users per call; the handler pages through a run), its HTTP implementation (bounded retries
//! with backoff, a bounded body) and the response shape it parses.

use std::time::Duration;

use reqwest::{StatusCode, header::RETRY_AFTER};
use serde::Deserialize;

use crate::config::ProducerConfig;

/// Why users could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The request failed (connection, time-out) on every try.
    #[error("users API request to {url} failed after {attempts} attempt(s): {source}")]
    Request {
        url: String,
        attempts: u32,
        #[source]
        source: reqwest::Error,
    },
    /// The API kept answering with an error status.
    #[error("users API at {url} answered HTTP {status} after {attempts} attempt(s)")]
    Status {
        url: String,
        status: u16,
        attempts: u32,
    },
    /// The body is larger than [`MAX_PAGE_BYTES`], declared or as read; asking again would
    /// get the same, so it is not retried.
    #[error("users API at {url} sent a page of more than {limit} bytes; refused unread")]
    TooLarge { url: String, limit: usize },
    /// The body is not the randomuser JSON shape (truncated, not JSON, no `results`).
    #[error("users API at {url} sent a body that is not a randomuser response: {source}")]
    Body {
        url: String,
        #[source]
        source: serde_json::Error,
    },
}

impl FetchError {
    /// Whether a later invocation may succeed where this one failed.
    pub fn is_retryable(&self) -> bool {
        match self {
            FetchError::Request { .. } | FetchError::Body { .. } => true,
            FetchError::Status { status, .. } => *status == 429 || *status >= 500,
            FetchError::TooLarge { .. } => false,
        }
    }
}

/// One response from the API. Each user is kept as raw JSON so that one malformed user is
/// skipped with a reason instead of failing the whole page.
#[derive(Debug, Deserialize)]
pub struct UsersPage {
    pub results: Vec<serde_json::Value>,
}

/// What the producer asks of the outside world: users as randomuser JSON objects, a page at a
/// time.
pub trait UserSource {
    /// Fetches page `page` (from 1) of pages of `size` users; the API may return fewer.
    fn fetch_page(
        &self,
        page: usize,
        size: usize,
    ) -> impl Future<Output = Result<FetchedUsers, FetchError>> + Send;
}

/// Users fetched by one request.
#[derive(Debug, Default)]
pub struct FetchedUsers {
    pub users: Vec<serde_json::Value>,
    /// Tries of the request that were retried after a time-out, a 429 or a 5xx.
    pub retries: u32,
}

/// The real API over HTTP.
pub struct RandomUserApi {
    client: reqwest::Client,
    base_url: String,
    seed: Option<String>,
    nat: Option<String>,
    max_retries: u32,
}

/// The largest response body read from the API. A page of
/// [`USERS_PER_CHUNK`](crate::config::USERS_PER_CHUNK) users is about 1.2 MB of randomuser
/// JSON; a body far beyond that is refused before it can exhaust the function's memory.
pub const MAX_PAGE_BYTES: usize = 8 * 1024 * 1024;

/// Reads a body of at most `limit` bytes; `None` when it declares or turns out to be larger.
async fn read_limited(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Option<Vec<u8>>, reqwest::Error> {
    let declared = response.content_length().unwrap_or(0);
    if declared > limit as u64 {
        return Ok(None);
    }
    let mut body = Vec::with_capacity(declared as usize);
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// Backoff before retry `n` (0-based): 200 ms doubling, capped at 5 s.
fn backoff(retry: u32) -> Duration {
    Duration::from_millis(200u64.saturating_mul(1 << retry.min(5))).min(Duration::from_secs(5))
}

/// The wait a 429 or 503 asks for in `Retry-After` (seconds), capped so that a hostile value
/// cannot hold the invocation past its timeout.
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let seconds: u64 = response
        .headers()
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds.min(10)))
}

impl RandomUserApi {
    /// Builds the client once; it is reused by every invocation of a warm function.
    pub fn new(config: &ProducerConfig) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(config.api_timeout)
            .user_agent(concat!("user-lake-producer/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            base_url: config.users_api_url.clone(),
            seed: config.users_seed.clone(),
            nat: config.users_nat.clone(),
            max_retries: config.api_max_retries,
        })
    }

    async fn get_page(&self, results: usize, page: usize) -> Result<(UsersPage, u32), FetchError> {
        let mut query: Vec<(&str, String)> =
            vec![("results", results.to_string()), ("page", page.to_string())];
        if let Some(seed) = &self.seed {
            query.push(("seed", seed.clone()));
        }
        if let Some(nat) = &self.nat {
            query.push(("nat", nat.clone()));
        }
        let url = self.base_url.clone();
        let mut retries = 0;
        loop {
            let attempts = retries + 1;
            let wait = match self.client.get(&url).query(&query).send().await {
                Ok(response) if response.status().is_success() => {
                    let body = match read_limited(response, MAX_PAGE_BYTES).await {
                        Ok(Some(body)) => body,
                        Ok(None) => {
                            return Err(FetchError::TooLarge {
                                url,
                                limit: MAX_PAGE_BYTES,
                            });
                        }
                        Err(source) if retries < self.max_retries => {
                            tracing::warn!(%url, attempts, error = %source, "users API body read failed; retrying");
                            retries += 1;
                            tokio::time::sleep(backoff(retries - 1)).await;
                            continue;
                        }
                        Err(source) => {
                            return Err(FetchError::Request {
                                url,
                                attempts,
                                source,
                            });
                        }
                    };
                    let page =
                        serde_json::from_slice(&body).map_err(|source| FetchError::Body {
                            url: url.clone(),
                            source,
                        })?;
                    return Ok((page, retries));
                }
                Ok(response) => {
                    let status = response.status();
                    let transient =
                        status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
                    if !transient || retries >= self.max_retries {
                        return Err(FetchError::Status {
                            url,
                            status: status.as_u16(),
                            attempts,
                        });
                    }
                    tracing::warn!(%url, attempts, status = status.as_u16(), "users API answered an error; retrying");
                    retry_after(&response).unwrap_or(backoff(retries))
                }
                Err(source) if retries < self.max_retries => {
                    tracing::warn!(%url, attempts, error = %source, "users API request failed; retrying");
                    backoff(retries)
                }
                Err(source) => {
                    return Err(FetchError::Request {
                        url,
                        attempts,
                        source,
                    });
                }
            };
            retries += 1;
            tokio::time::sleep(wait).await;
        }
    }
}

impl UserSource for RandomUserApi {
    async fn fetch_page(&self, page: usize, size: usize) -> Result<FetchedUsers, FetchError> {
        let (body, retries) = self.get_page(size, page).await?;
        Ok(FetchedUsers {
            users: body.results,
            retries,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(0), Duration::from_millis(200));
        assert_eq!(backoff(1), Duration::from_millis(400));
        assert_eq!(backoff(4), Duration::from_millis(3_200));
        assert_eq!(backoff(9), Duration::from_secs(5));
    }

    #[test]
    fn only_throttling_and_server_errors_are_retryable_statuses() {
        let status = |status| FetchError::Status {
            url: "u".into(),
            status,
            attempts: 1,
        };
        assert!(status(429).is_retryable());
        assert!(status(503).is_retryable());
        assert!(!status(404).is_retryable());
        assert!(!status(400).is_retryable());
    }
}
