//! The scripted API calls of `[[actions]]`: made at their time as their user, each result
//! recorded in the trace for the `api-results` and `owner-isolation` oracles to judge.

use std::rc::Rc;

use bitsim_engine::{ApiError, Caller, Engine, Hresult, JobId};

use crate::env::TurmoilEnv;
use crate::scenario::{Action, Call, ENGINE_HOST, Scenario};
use crate::trace::{Recorder, SimEvent};

/// Schedules every action still ahead of `now`; those whose time passed while the host was
/// down are not made (the program that would have made them did not run).
pub(super) fn schedule(
    engine: &Engine<TurmoilEnv>,
    scenario: &Rc<Scenario>,
    recorder: &Recorder,
    now: std::time::Duration,
    first_boot: bool,
) {
    for (index, action) in scenario.actions.iter().enumerate() {
        let at = action.get_ref().at.0;
        if !first_boot && at < now {
            continue;
        }
        let (engine, scenario, recorder) = (engine.clone(), scenario.clone(), recorder.clone());
        tokio::task::spawn_local(async move {
            crate::clock::sleep_until(at).await;
            let action = scenario.actions[index].get_ref();
            perform(&engine, &scenario, &recorder, index, action).await;
        });
    }
}

async fn perform(
    engine: &Engine<TurmoilEnv>,
    scenario: &Scenario,
    recorder: &Recorder,
    index: usize,
    action: &Action,
) {
    let caller_name = action.caller(scenario).to_owned();
    let caller = Caller { user: caller_name.clone(), admin: action.admin };
    let session = engine.session(caller);
    // The job by display name, as the service sees it (the caller may not).
    let job = action.job.as_deref().and_then(|name| {
        engine.jobs().into_iter().rev().find(|info| info.name == name).map(|info| info.id)
    });
    let mut listed = None;
    let result: Result<Hresult, ApiError> = match (action.call, job) {
        (Call::EnumJobs, _) => session.enum_jobs(action.all_users).map(|jobs| {
            listed = Some(jobs.iter().map(|job| job.id).collect::<Vec<JobId>>());
            Hresult::S_OK
        }),
        (_, None) => Err(ApiError::new(Hresult::BG_E_NOT_FOUND, "the job is not in the queue")),
        (call, Some(job)) => match call {
            Call::Suspend => session.suspend(job).await.map(|()| Hresult::S_OK),
            Call::Resume => session.resume(job).await.map(|()| Hresult::S_OK),
            Call::Cancel => session.cancel(job).await.map(|()| Hresult::S_OK),
            Call::Complete => session.complete(job).await,
            Call::SetPriority => {
                let priority = action.priority.unwrap_or_default();
                session.set_priority(job, priority).await.map(|()| Hresult::S_OK)
            }
            Call::SetRemoteName => {
                let (file, url) = (action.file.unwrap_or(0), action.url.as_deref().unwrap_or(""));
                session.set_remote_name(job, file, url).await.map(|()| Hresult::S_OK)
            }
            Call::ReplaceRemotePrefix => {
                let old = action.old_prefix.as_deref().unwrap_or("");
                let new = action.new_prefix.as_deref().unwrap_or("");
                session.replace_remote_prefix(job, old, new).await
            }
            Call::GetJob => session.job(job).map(|_| Hresult::S_OK),
            Call::EnumJobs => unreachable!("matched above"),
        },
    };
    recorder.record(
        ENGINE_HOST,
        SimEvent::ActionDone {
            action: index,
            call: action.call.name().to_owned(),
            caller: caller_name,
            admin: action.admin,
            job,
            result: result.unwrap_or_else(|error| error.code),
            listed,
        },
    );
}
