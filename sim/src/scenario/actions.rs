//! `[[actions]]`: API calls the client program makes at given times, as a given user, with
//! the result each must return. They show what a program can and cannot do to a job: switch
//! its source (SetRemoteName, ReplaceRemotePrefix), suspend and resume it, or try to touch
//! another user's job (spec §2.10).

use bitsim_engine::{Hresult, Priority};
use serde::{Deserialize, Serialize};

use super::{Located, Scenario, Span, at};

/// One scripted API call.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    /// When the program makes the call. A call whose time passed while the engine's host
    /// was down is not made after the boot: the program that would have made it is gone.
    pub at: Span,
    pub call: Call,
    /// The job, by display name (every call but `enum-jobs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// The calling user (default: the job's owner; for `enum-jobs`, `user`).
    #[serde(default, rename = "as", skip_serializing_if = "Option::is_none")]
    pub caller: Option<String>,
    /// The caller is an administrator.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub admin: bool,
    /// `set-remote-name`: the file's index in the job (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<usize>,
    /// `set-remote-name`: the new URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `replace-remote-prefix`: the prefixes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_prefix: Option<String>,
    /// `set-priority`: the new priority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    /// `enum-jobs`: `BG_JOB_ENUM_ALL_USERS`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all_users: bool,
    /// What the call must return (default S_OK): S_FALSE, or an error code as hex or name.
    #[serde(default = "Action::expect_default")]
    pub expect: Hresult,
    /// `enum-jobs`: the display names it must list, in any order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_jobs: Option<Vec<String>>,
}

/// The calls a scripted action can make.
#[derive(Clone, Copy, Debug, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Call {
    Suspend,
    Resume,
    Cancel,
    Complete,
    SetPriority,
    SetRemoteName,
    ReplaceRemotePrefix,
    /// `GetJob`: succeeds only for the owner or an administrator.
    GetJob,
    /// `EnumJobs`.
    EnumJobs,
}

impl Call {
    pub const fn name(self) -> &'static str {
        match self {
            Self::Suspend => "suspend",
            Self::Resume => "resume",
            Self::Cancel => "cancel",
            Self::Complete => "complete",
            Self::SetPriority => "set-priority",
            Self::SetRemoteName => "set-remote-name",
            Self::ReplaceRemotePrefix => "replace-remote-prefix",
            Self::GetJob => "get-job",
            Self::EnumJobs => "enum-jobs",
        }
    }
}

impl Action {
    fn expect_default() -> Hresult {
        Hresult::S_OK
    }

    /// The user who makes the call.
    pub fn caller<'a>(&'a self, scenario: &'a Scenario) -> &'a str {
        if let Some(caller) = &self.caller {
            return caller;
        }
        let job = self.job.as_deref().and_then(|name| {
            scenario.jobs.iter().map(|job| job.get_ref()).find(|job| job.name == name)
        });
        job.map_or(bitsim_engine::core::job::OWNER_DEFAULT, |job| job.owner())
    }
}

impl Scenario {
    /// Every action names a job of the scenario (but `enum-jobs`) and carries exactly the
    /// fields its call takes.
    pub(super) fn validate_actions(&self) -> Result<(), Located> {
        for action in &self.actions {
            let (span, action) = (action.span(), action.get_ref());
            let name = action.call.name();
            let fail = |message: String| Err(at(span.clone(), format!("actions: {message}")));
            match (&action.job, action.call) {
                (Some(_), Call::EnumJobs) => return fail("enum-jobs takes no `job`".into()),
                (None, Call::EnumJobs) => {}
                (None, _) => return fail(format!("{name} needs `job`")),
                (Some(job), _) if !self.jobs.iter().any(|j| &j.get_ref().name == job) => {
                    return fail(format!("job `{job}` is not a [[jobs]] name"));
                }
                (Some(_), _) => {}
            }
            let wants = |field: bool, takes: bool, what: &str| -> Result<(), Located> {
                match (field, takes) {
                    (true, false) => fail(format!("{name} takes no `{what}`")),
                    (false, true) if !["file", "all_users"].contains(&what) => {
                        fail(format!("{name} needs `{what}`"))
                    }
                    _ => Ok(()),
                }
            };
            let renames = action.call == Call::SetRemoteName;
            let prefixes = action.call == Call::ReplaceRemotePrefix;
            wants(action.url.is_some(), renames, "url")?;
            wants(action.file.is_some(), renames, "file")?;
            wants(action.old_prefix.is_some(), prefixes, "old_prefix")?;
            wants(action.new_prefix.is_some(), prefixes, "new_prefix")?;
            wants(action.priority.is_some(), action.call == Call::SetPriority, "priority")?;
            let enumerates = action.call == Call::EnumJobs;
            wants(action.all_users, enumerates, "all_users")?;
            if action.expect_jobs.is_some() && !enumerates {
                return fail(format!("{name} takes no `expect_jobs`"));
            }
        }
        Ok(())
    }
}
