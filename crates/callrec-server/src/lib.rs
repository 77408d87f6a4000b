//! callrec's server: the HTTPS listener, the request pipeline of contract §2, the record and
//! event APIs, rate limits, background jobs and operational endpoints.

pub mod config;
