//! Checks of the local stack's files and of the functions' binaries that need no running stack:
//! docker-compose.yml against the local env file, the functions' stdout under each log level
//! Lambda allows, filtered as Lambda filters it, and their S3 traffic under exactly the IAM
//! policies the template gives their roles.

mod compose;
mod iam;
mod log_levels;
