//! The writer schemas of registry-encoded values. An Avro value on the topic names its schema by
//! an id and carries no schema itself, so whoever reads it fetches that schema from the
//! registry: the sink, when its trigger hands over the records' own bytes (`EventRecordFormat`
//! `SOURCE`, the id in `valueSchemaMetadata`), and the local MSK trigger, which validates
//! records as a mapping with a `SchemaRegistryConfig` does.
//!
//! The registry sits behind [`SchemaRegistry`], with the Confluent REST API
//! ([`ConfluentRegistry`], `GET /schemas/ids/{id}`), AWS Glue ([`GlueRegistry`], feature `glue`,
//! `GetSchemaVersion` by the schema version id Lambda gives as `schemaId`) and an in-memory one
//! ([`FixedRegistry`]) for tests. A schema is fetched once and kept for the life of the function (an id always
//! names the same schema). A fetch that fails fails the batch, retryably: nothing is decided
//! about a record whose schema could not be read.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use apache_avro::Schema;
use async_trait::async_trait;
use url::Url;

/// Where writer schemas come from.
#[async_trait]
pub trait SchemaRegistry: Send + Sync {
    /// The schema registered under `id`, as the registry's text.
    async fn schema_text(&self, id: &str) -> Result<String, RegistryError>;
}

/// Why a schema could not be fetched; each fails the batch, which the trigger retries.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry could not be reached, or its answer could not be read.
    #[error("schema {id}: the registry request failed: {source}")]
    Request {
        id: String,
        #[source]
        source: reqwest::Error,
    },
    /// The registry answered with an error status (404: it has no schema of that id).
    #[error("schema {id}: the registry answered {status}")]
    Status { id: String, status: u16 },
    /// The id cannot name a schema (empty, or not a path segment).
    #[error("schema id {id:?} cannot be looked up")]
    BadId { id: String },
    /// Glue refused or failed `GetSchemaVersion`, or answered without a definition.
    #[error("schema {id}: Glue GetSchemaVersion failed: {reason}")]
    Glue { id: String, reason: String },
    /// The registry's credentials could not be read from their Secrets Manager secret.
    #[error("the registry's credentials in {secret_arn}: {reason}")]
    Credentials { secret_arn: String, reason: String },
}

impl RegistryError {
    /// Whether the registry answered that it has no schema of that id (a Confluent registry's
    /// 404), rather than failing to answer.
    pub fn is_not_found(&self) -> bool {
        matches!(self, RegistryError::Status { status: 404, .. })
    }
}

/// A Confluent-compatible registry over HTTP (Confluent Platform, Confluent Cloud without
/// credentials, or the local one under `local/`).
#[derive(Debug, Clone)]
pub struct ConfluentRegistry {
    client: reqwest::Client,
    base: Url,
    credentials: Option<BasicAuth>,
}

impl ConfluentRegistry {
    /// A client of the registry at `base` (e.g. `http://127.0.0.1:8081`).
    pub fn new(client: reqwest::Client, base: Url) -> Self {
        Self {
            client,
            base,
            credentials: None,
        }
    }

    /// The same client, sending `credentials` with every request (a registry with
    /// `BASIC_AUTH`, as the trigger reads it).
    pub fn with_basic_auth(mut self, credentials: BasicAuth) -> Self {
        self.credentials = Some(credentials);
        self
    }

    fn authorised(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.credentials {
            Some(c) => request.basic_auth(&c.username, Some(&c.password)),
            None => request,
        }
    }
}

/// A registry's HTTP basic authentication credentials.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
pub struct BasicAuth {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuth")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl BasicAuth {
    /// The credentials a Secrets Manager secret holds for a Confluent registry with
    /// `BASIC_AUTH`: a JSON object with `username` and `password`. The error never holds the
    /// secret's text.
    pub fn from_secret(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|error| {
            format!(
                "the secret is not a JSON object with string members username and password \
                 (line {}, column {})",
                error.line(),
                error.column()
            )
        })
    }
}

/// The body of `GET /schemas/ids/{id}`.
#[derive(serde::Deserialize)]
struct SchemaResponse {
    schema: String,
}

/// The body of `POST /subjects/{subject}/versions`.
#[derive(serde::Serialize)]
struct RegisterRequest<'a> {
    schema: &'a str,
}

/// The answer of `POST /subjects/{subject}/versions`.
#[derive(serde::Deserialize)]
struct RegisterResponse {
    id: u32,
}

impl ConfluentRegistry {
    /// Registers `schema` (Avro, as text) under `subject`, or finds it there, and answers its
    /// id: what a Confluent serializer does before it writes the first value. The registry
    /// refuses a schema its compatibility rule does not allow (409).
    pub async fn register(&self, subject: &str, schema: &str) -> Result<u32, RegistryError> {
        let url = self.url(subject, ["subjects", subject, "versions"])?;
        let request = self
            .authorised(self.client.post(url))
            .header("Content-Type", CONTENT_TYPE)
            .json(&RegisterRequest { schema });
        let body: RegisterResponse = call(subject, request).await?;
        Ok(body.id)
    }

    /// The registry's URL with `segments` appended; `name` (the id or subject asked for) must
    /// be a non-empty path segment.
    fn url(&self, name: &str, segments: [&str; 3]) -> Result<Url, RegistryError> {
        let bad_id = || RegistryError::BadId { id: name.into() };
        if name.is_empty() {
            return Err(bad_id());
        }
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| bad_id())?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }
}

/// The registry's media type, for what is sent and what is accepted.
const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// Sends `request` and reads its JSON answer; any failure names `name`.
async fn call<T: serde::de::DeserializeOwned>(
    name: &str,
    request: reqwest::RequestBuilder,
) -> Result<T, RegistryError> {
    let failed = |source| RegistryError::Request {
        id: name.into(),
        source,
    };
    let response = request.send().await.map_err(failed)?;
    let status = response.status();
    if !status.is_success() {
        return Err(RegistryError::Status {
            id: name.into(),
            status: status.as_u16(),
        });
    }
    response.json().await.map_err(failed)
}

#[async_trait]
impl SchemaRegistry for ConfluentRegistry {
    async fn schema_text(&self, id: &str) -> Result<String, RegistryError> {
        let url = self.url(id, ["schemas", "ids", id])?;
        let request = (self.authorised(self.client.get(url))).header("Accept", CONTENT_TYPE);
        let body: SchemaResponse = call(id, request).await?;
        Ok(body.schema)
    }
}

#[cfg(feature = "glue")]
pub use glue::GlueRegistry;

#[cfg(feature = "glue")]
mod glue {
    use async_trait::async_trait;

    use crate::{RegistryError, SchemaRegistry};

    /// An AWS Glue schema registry: `schemaId` is a schema version's id, which names it in the
    /// account and region whatever its registry.
    #[derive(Debug, Clone)]
    pub struct GlueRegistry {
        client: aws_sdk_glue::Client,
    }

    impl GlueRegistry {
        pub fn new(client: aws_sdk_glue::Client) -> Self {
            Self { client }
        }
    }

    #[async_trait]
    impl SchemaRegistry for GlueRegistry {
        async fn schema_text(&self, id: &str) -> Result<String, RegistryError> {
            let glue = |reason: String| RegistryError::Glue {
                id: id.into(),
                reason,
            };
            let output = (self.client.get_schema_version())
                .schema_version_id(id)
                .send()
                .await
                .map_err(|error| {
                    glue(aws_sdk_glue::error::DisplayErrorContext(error).to_string())
                })?;
            (output.schema_definition())
                .map(str::to_owned)
                .ok_or_else(|| glue("no schema definition in the answer".into()))
        }
    }
}

/// A registry shared with its owner (a test that counts its look-ups).
#[async_trait]
impl<T: SchemaRegistry + ?Sized> SchemaRegistry for Arc<T> {
    async fn schema_text(&self, id: &str) -> Result<String, RegistryError> {
        (**self).schema_text(id).await
    }
}

/// A registry of fixed schemas, counting its look-ups: for tests.
#[derive(Debug, Default)]
pub struct FixedRegistry {
    schemas: HashMap<String, String>,
    lookups: AtomicUsize,
}

impl FixedRegistry {
    /// A registry holding `schemas` (id, schema text).
    pub fn new<'a>(schemas: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self {
            schemas: (schemas.into_iter())
                .map(|(id, text)| (id.to_owned(), text.to_owned()))
                .collect(),
            lookups: AtomicUsize::new(0),
        }
    }

    /// How many schemas were asked for.
    pub fn lookups(&self) -> usize {
        self.lookups.load(Ordering::Relaxed)
    }
}

#[async_trait]
impl SchemaRegistry for FixedRegistry {
    async fn schema_text(&self, id: &str) -> Result<String, RegistryError> {
        self.lookups.fetch_add(1, Ordering::Relaxed);
        self.schemas
            .get(id)
            .cloned()
            .ok_or_else(|| RegistryError::Status {
                id: id.into(),
                status: 404,
            })
    }
}

/// A writer schema as a batch uses it: parsed, or why the registry's text is not an Avro schema
/// (each record written with it is then rejected with that reason).
pub type WriterSchema = Result<Arc<Schema>, String>;

/// The writer schemas a batch needs, by id.
pub type WriterSchemaSet = HashMap<String, WriterSchema>;

/// Writer schemas fetched from a registry, kept for the function's life.
pub struct WriterSchemas {
    registry: Box<dyn SchemaRegistry>,
    cache: Mutex<HashMap<String, WriterSchema>>,
}

impl WriterSchemas {
    pub fn new(registry: Box<dyn SchemaRegistry>) -> Self {
        Self {
            registry,
            cache: Mutex::default(),
        }
    }

    /// The schemas of `ids`, fetching those not yet known. Fails on the first that cannot be
    /// fetched; those fetched before it are kept.
    pub async fn resolve(&self, ids: BTreeSet<&str>) -> Result<WriterSchemaSet, RegistryError> {
        self.resolve_with(ids, false).await
    }

    /// As [`resolve`](Self::resolve), except that an id the registry answers it does not have
    /// is in the set as the reason its records are rejected, rather than an error: for values
    /// read straight from the topic, which no trigger has validated. Not kept: the schema may
    /// be registered later.
    pub async fn resolve_rejecting_unknown(
        &self,
        ids: BTreeSet<&str>,
    ) -> Result<WriterSchemaSet, RegistryError> {
        self.resolve_with(ids, true).await
    }

    async fn resolve_with(
        &self,
        ids: BTreeSet<&str>,
        reject_unknown: bool,
    ) -> Result<WriterSchemaSet, RegistryError> {
        let mut set = WriterSchemaSet::new();
        for id in ids {
            let known = self.cache.lock().expect("not poisoned").get(id).cloned();
            let schema = match known {
                Some(schema) => schema,
                None => {
                    let text = match self.registry.schema_text(id).await {
                        Ok(text) => text,
                        Err(error) if reject_unknown && error.is_not_found() => {
                            set.insert(
                                id.to_owned(),
                                Err(format!("the schema registry has no schema {id}")),
                            );
                            continue;
                        }
                        Err(error) => return Err(error),
                    };
                    let schema = Schema::parse_str(&text)
                        .map(Arc::new)
                        .map_err(|error| format!("schema {id} is not an Avro schema: {error}"));
                    let mut cache = self.cache.lock().expect("not poisoned");
                    cache.insert(id.to_owned(), schema.clone());
                    schema
                }
            };
            set.insert(id.to_owned(), schema);
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_basic_auth_secret_is_read_and_a_bad_one_is_refused_without_its_text() {
        let auth =
            super::BasicAuth::from_secret(r#"{"username":"sink","password":"hunter2"}"#).unwrap();
        assert_eq!(
            (auth.username.as_str(), auth.password.as_str()),
            ("sink", "hunter2")
        );
        assert!(!format!("{auth:?}").contains("hunter2"), "{auth:?}");
        let err =
            super::BasicAuth::from_secret(r#"{"user":"u","password":"hunter2"}"#).unwrap_err();
        assert!(err.contains("username and password"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    use super::*;

    #[tokio::test]
    async fn a_schema_is_fetched_once_and_kept() {
        // given a registry with the users' schema under id 7
        let registry = Arc::new(FixedRegistry::new([("7", user_record::schemas::AVRO)]));
        let schemas = WriterSchemas::new(Box::new(registry.clone()));

        // when two batches need it
        for _ in 0..2 {
            let set = schemas.resolve(BTreeSet::from(["7"])).await.unwrap();
            assert!(set["7"].is_ok());
        }

        // then the registry was asked once
        assert_eq!(registry.lookups(), 1);
    }

    #[tokio::test]
    async fn an_unknown_id_fails_and_a_text_that_is_not_avro_is_kept_as_its_reason() {
        let registry = FixedRegistry::new([("1", "{\"type\": \"nonsense\"}")]);
        let schemas = WriterSchemas::new(Box::new(registry));
        let err = schemas.resolve(BTreeSet::from(["2"])).await.unwrap_err();
        assert!(
            matches!(err, RegistryError::Status { status: 404, .. }),
            "{err}"
        );
        let set = schemas.resolve(BTreeSet::from(["1"])).await.unwrap();
        assert!(
            set["1"]
                .as_ref()
                .unwrap_err()
                .starts_with("schema 1 is not an Avro schema")
        );
    }
}
