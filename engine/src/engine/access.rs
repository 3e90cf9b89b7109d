//! The API calls about who a job belongs to and how it reaches its servers: owners,
//! `SetCredentials`, `RemoveCredentials`, `SetProxySettings`; and sealing credentials for the
//! journal.

use crate::core::auth::credentials::Credential;
use crate::core::auth::seal::{NONCE_LEN, seal};
use crate::core::auth::{AuthScheme, AuthTarget};
use crate::core::error::ApiError;
use crate::core::job::JobId;
use crate::core::proxy::ProxySettings;
use crate::core::state::JobType;
use crate::env::Env;

use super::{Engine, Inner};

impl<E: Env> Engine<E> {
    /// `CreateJob` called by `owner`: the job answers NTLM and Negotiate challenges with that
    /// user's logon credentials when the policy allows, and shares connections only with
    /// that user's jobs.
    pub async fn create_job_for(&self, owner: &str, name: &str) -> Result<JobId, ApiError> {
        let id = self.inner.queue.borrow_mut().create_job(owner, name, JobType::Download)?;
        self.inner.commit_api().await?;
        Ok(id)
    }

    /// `SetCredentials`: `Credential::implicit()` (NULL user name and password) means the
    /// owner's logon credentials.
    pub async fn set_credentials(
        &self,
        job: JobId,
        target: AuthTarget,
        scheme: AuthScheme,
        credential: Credential,
    ) -> Result<(), ApiError> {
        self.inner.queue.borrow_mut().set_credentials(job, target, scheme, credential)?;
        self.inner.reseal(job);
        self.inner.commit_api().await
    }

    /// `RemoveCredentials`.
    pub async fn remove_credentials(
        &self,
        job: JobId,
        target: AuthTarget,
        scheme: AuthScheme,
    ) -> Result<(), ApiError> {
        self.inner.queue.borrow_mut().remove_credentials(job, target, scheme)?;
        self.inner.reseal(job);
        self.inner.commit_api().await
    }

    /// `SetProxySettings`.
    pub async fn set_proxy_settings(
        &self,
        job: JobId,
        settings: ProxySettings,
    ) -> Result<(), ApiError> {
        self.inner.queue.borrow_mut().set_proxy_settings(job, settings)?;
        self.inner.commit_api().await
    }
}

impl<E: Env> Inner<E> {
    /// Seals the job's credentials again after a change, with a fresh nonce.
    fn reseal(&self, job: JobId) {
        let Some(key) = &self.config.credential_key else { return };
        let mut nonce = [0; NONCE_LEN];
        self.env.random_bytes(&mut nonce);
        let mut queue = self.queue.borrow_mut();
        let Some(access) = queue.job(job).map(|job| &job.access) else { return };
        let sealed = seal(key, nonce, &access.credentials);
        queue.set_sealed_credentials(job, sealed);
    }
}
