//! The parts of GitHub's REST responses that the pipeline reads. Unknown fields are ignored, so the
//! full documented shapes (and GitHub's additions) deserialize.

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// An item of `GET /repos/{o}/{r}/pulls`.
#[derive(Debug, Clone, Deserialize)]
pub struct PullSummary {
    pub number: u64,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub merged_at: Option<DateTime<Utc>>,
    pub base: GitRef,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GitRef {
    pub sha: String,
}

/// An item of `GET /repos/{o}/{r}/pulls/{n}/commits`.
#[derive(Debug, Clone, Deserialize)]
pub struct PullCommit {
    pub sha: String,
    pub commit: CommitDetail,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CommitDetail {
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub author: Option<GitActor>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GitActor {
    #[serde(default)]
    pub date: Option<DateTime<Utc>>,
}

/// `GET /repos/{o}/{r}/issues/{n}`. Pull requests are issues too; they carry `pull_request`.
#[derive(Debug, Clone, Deserialize)]
pub struct IssueDetail {
    pub number: u64,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub pull_request: Option<serde_json::Value>,
    /// The number of comments.
    #[serde(default)]
    pub comments: u64,
}

/// An item of `GET /repos/{o}/{r}/issues/{n}/comments`.
#[derive(Debug, Clone, Deserialize)]
pub struct IssueComment {
    pub id: u64,
    #[serde(default)]
    pub body: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// The body of an error response.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub message: String,
}
