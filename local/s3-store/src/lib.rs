//! The local stack's S3-protocol store: the s3s-fs library (signed requests, conditional
//! writes, objects stored as plain files under a root directory) served with the answers S3
//! gives where s3s-fs differs from it.
//!
//! s3s-fs keeps objects as files, so a key prefix with objects below it (`users`, `users/`) is a
//! directory on its disk. Asked for such a key, S3 answers `404 NoSuchKey` (there is no such
//! object); s3s-fs answers `500 InternalError` to a `HeadObject` and fails a `GetObject` while
//! streaming. Dataset readers (pyarrow's `dataset()`, and readers built on it) probe the path
//! they are given with a `HeadObject` before listing it, so against s3s-fs they fail. This store
//! answers those requests as S3 does and hands every other request to s3s-fs unchanged.
//!
//! s3s-fs also keeps each object's attributes in a file named after the bucket and the key in
//! base64, so a key longer than about 150 bytes makes a file name the disk refuses (255 bytes),
//! and s3s-fs answers `500 InternalError`. S3 takes keys up to 1,024 bytes; this store refuses
//! the ones it cannot keep with `400 KeyTooLongError`, S3's own answer for a key that is too
//! long, naming the limit.

use std::{
    net::SocketAddr,
    path::{Component, Path, PathBuf},
};

use s3s::{
    S3, S3Request, S3Response, S3Result, auth::SimpleAuth, dto::*, s3_error,
    service::S3ServiceBuilder,
};
use s3s_fs::FileSystem;
use tokio::net::TcpListener;

/// The s3s-fs store with S3's answers for keys that are prefixes.
#[derive(Debug)]
pub struct Store {
    files: FileSystem,
    root: PathBuf,
}

impl Store {
    /// A store of the buckets under `root` (one directory per bucket).
    pub fn new(root: impl Into<PathBuf>) -> anyhow::Result<Self> {
        let root = std::path::absolute(root.into())?;
        Ok(Self {
            files: FileSystem::new(&root)
                .map_err(|e| anyhow::anyhow!("cannot serve {}: {e:?}", root.display()))?,
            root,
        })
    }

    /// The longest key s3s-fs can keep in `bucket`: its attributes file,
    /// `.bucket-<base64 bucket>.object-<base64 key>.internal.json`, must be a file name the
    /// disk takes (255 bytes).
    fn longest_key(bucket: &str) -> usize {
        const NAME_MAX: usize = 255;
        let base64_len = |n: usize| (4 * n).div_ceil(3);
        let fixed = ".bucket-".len() + base64_len(bucket.len()) + ".object-".len();
        let room = NAME_MAX.saturating_sub(fixed + ".internal.json".len());
        room * 3 / 4
    }

    /// S3's answer to a key longer than this store can keep.
    fn refuse_long_key(bucket: &str, key: &str) -> S3Result<()> {
        let longest = Self::longest_key(bucket);
        if key.len() > longest {
            return Err(s3_error!(
                KeyTooLongError,
                "the local store keeps keys of at most {longest} bytes in bucket {bucket}; this one has {}",
                key.len()
            ));
        }
        Ok(())
    }

    /// Whether `key` of `bucket` names a directory (a prefix with objects below it) rather
    /// than an object. Keys that could leave the root are left to s3s-fs, which refuses them.
    fn is_prefix(&self, bucket: &str, key: &str) -> bool {
        let inside = |p: &str| {
            Path::new(p)
                .components()
                .all(|c| matches!(c, Component::Normal(_)))
        };
        inside(bucket)
            && (key.is_empty() || inside(key.trim_end_matches('/')))
            && self.root.join(bucket).join(key).is_dir()
    }
}

#[async_trait::async_trait]
impl S3 for Store {
    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        if self.is_prefix(&req.input.bucket, &req.input.key) {
            return Err(s3_error!(NoSuchKey));
        }
        self.files.head_object(req).await
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        if self.is_prefix(&req.input.bucket, &req.input.key) {
            return Err(s3_error!(NoSuchKey));
        }
        self.files.get_object(req).await
    }

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        self.files.create_bucket(req).await
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        self.files.copy_object(req).await
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.files.delete_bucket(req).await
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.files.delete_object(req).await
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        self.files.delete_objects(req).await
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.files.get_bucket_location(req).await
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.files.head_bucket(req).await
    }

    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        self.files.list_buckets(req).await
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        self.files.list_objects(req).await
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.files.list_objects_v2(req).await
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        Self::refuse_long_key(&req.input.bucket, &req.input.key)?;
        self.files.put_object(req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        Self::refuse_long_key(&req.input.bucket, &req.input.key)?;
        self.files.create_multipart_upload(req).await
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        self.files.upload_part(req).await
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        self.files.upload_part_copy(req).await
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        self.files.list_parts(req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.files.complete_multipart_upload(req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.files.abort_multipart_upload(req).await
    }
}

/// Credentials every request must be signed with.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub access_key: String,
    pub secret_key: String,
}

/// Serves `store` on `listener` until `shutdown` completes, then lets open connections finish
/// (for at most ten seconds).
pub async fn serve(
    listener: TcpListener,
    store: Store,
    credentials: Option<Credentials>,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let service = {
        let mut builder = S3ServiceBuilder::new(store);
        if let Some(c) = credentials {
            builder.set_auth(SimpleAuth::from_single(c.access_key, c.secret_key));
        }
        builder.build()
    };
    let http = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let socket = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, _)) => socket,
                Err(error) => {
                    tracing::warn!(%error, "cannot accept a connection");
                    continue;
                }
            },
            () = shutdown.as_mut() => break,
        };
        let connection = http.serve_connection(TokioIo::new(socket), service.clone());
        let connection = graceful.watch(connection.into_owned());
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(std::time::Duration::from_secs(10)) => {}
    }
    Ok(())
}

/// A store running in the background of a test, on a free port of 127.0.0.1; it stops when
/// dropped.
pub struct Running {
    pub address: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Running {
    /// Starts a store of the buckets under `root` (created if missing) on the current runtime.
    pub async fn start(root: &Path, credentials: Option<Credentials>) -> anyhow::Result<Self> {
        std::fs::create_dir_all(root)?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let store = Store::new(root)?;
        let (stop, stopped) = tokio::sync::oneshot::channel();
        tokio::spawn(serve(listener, store, credentials, async {
            let _ = stopped.await;
        }));
        Ok(Self {
            address,
            stop: Some(stop),
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
