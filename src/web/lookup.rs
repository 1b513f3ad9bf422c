//! The one lookup per key a route takes: a job by its id (the kiosk's and
//! the staff's routes) and a job by its guest token (the guest's phone).
//! Both come as typed route parameters; what was not found is one error
//! kind, [`Missing`], mapped once to an answer (`web::error`), which the
//! APIs send as JSON and the staff pages as HTML (`admin::view`); the
//! guest's phone gets a page in its language (`guest_pages`).

use crate::jobs::{GuestToken, Job, JobId, JobStore, MalformedId, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum Missing {
    /// A job id that is not one (400).
    #[error("that job id is not valid")]
    MalformedId,
    /// No job has that id (404).
    #[error("there is no such job (it may have been deleted)")]
    NoJob,
    /// A guest link that leads nowhere, well formed or not (404): telling
    /// the two apart would tell a guesser nothing useful either way.
    #[error("this link is not valid")]
    NoLink,
    #[error(transparent)]
    Store(StoreError),
}

/// The job with id `id`.
pub fn job(store: &JobStore, id: Result<JobId, MalformedId>) -> Result<Job, Missing> {
    let id = id.map_err(|_| Missing::MalformedId)?;
    store.get(id).map_err(Missing::Store)?.ok_or(Missing::NoJob)
}

/// The job a guest's link names.
pub fn guest(store: &JobStore, token: Result<GuestToken, MalformedId>) -> Result<Job, Missing> {
    let token = token.map_err(|_| Missing::NoLink)?;
    store
        .get_by_token(token)
        .map_err(Missing::Store)?
        .ok_or(Missing::NoLink)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_says_what_it_did_not_find() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = JobStore::open(&dir.path().join("db")).expect("open");
        let job = Job::new("soft_smile".parse().expect("preset id"), "source.jpg", 1);
        store.insert_new(&job).expect("insert");
        assert_eq!(self::job(&store, Ok(job.id)).expect("found").id, job.id);
        assert_eq!(guest(&store, Ok(job.token)).expect("found").id, job.id);
        assert!(matches!(
            self::job(&store, Err(MalformedId)),
            Err(Missing::MalformedId)
        ));
        assert!(matches!(
            guest(&store, Err(MalformedId)),
            Err(Missing::NoLink)
        ));
        let other = Job::new("soft_smile".parse().expect("preset id"), "source.jpg", 1);
        assert!(matches!(
            self::job(&store, Ok(other.id)),
            Err(Missing::NoJob)
        ));
        assert!(matches!(
            guest(&store, Ok(other.token)),
            Err(Missing::NoLink)
        ));
    }
}
