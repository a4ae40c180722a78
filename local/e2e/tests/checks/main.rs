//! Checks of the local stack's files and of the functions' binaries that need no running stack:
//! docker-compose.yml against the local env file, and the functions' stdout under each log level
//! Lambda allows, filtered as Lambda filters it.

mod compose;
mod log_levels;
