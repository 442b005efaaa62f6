//! Where one mini program's code stands: committed → (privacy detection pending) → submitted →
//! auditing / delayed / rejected / withdrawn → approved → released / gray / reverted.
//!
//! The state is not a third record written beside the others (a write that could fail after
//! the action it describes, and then lie). It is folded, by the transitions below, from what
//! the store already keeps for every step: the app's activity (each action wxopen made, with
//! its template, version, auditid and the 61039 refusals) and its latest audit record (which
//! pushes and polls keep current). So a push that updates the audit moves the stage with no
//! further write, and an audit submitted outside wxopen (WeChat's console) still shows.

use crate::domain::{AuditId, AuditStatus, UnixTime};
use crate::store::{Activity, AuditRecord};
use serde::Serialize;

/// What an operator did to an app, as its [`Activity`] records it (the stored `action` word).
/// The first eight move the [`Stage`]; the others change settings beside the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Commit,
    /// A submission WeChat refused with 61039: its privacy detection after the commit runs.
    PrivacyDetectionPending,
    SubmitAudit,
    UndoAudit,
    Release,
    GrayRelease,
    RevertGrayRelease,
    Revert,
    SpeedupAudit,
    ChangeVisitStatus,
    ModifyDomain,
    SetWebviewDomain,
    BindTester,
    UnbindTester,
    SetPrivacySetting,
    /// ICP filing on the merchant's behalf (they leave the code's stage as it is).
    UploadIcpMedia,
    CreateIcpVerifyTask,
    ApplyIcpFiling,
    CancelIcpFiling,
    SubmitAuthAndIcp,
    /// The profile a first audit needs: a name, avatar, signature or search status set (each
    /// piece its own entry, with what it became).
    ChangeProfile,
    AddCategory,
    ModifyCategory,
    DeleteCategory,
}

impl Action {
    pub const ALL: [Action; 24] = [
        Action::Commit,
        Action::PrivacyDetectionPending,
        Action::SubmitAudit,
        Action::UndoAudit,
        Action::Release,
        Action::GrayRelease,
        Action::RevertGrayRelease,
        Action::Revert,
        Action::SpeedupAudit,
        Action::ChangeVisitStatus,
        Action::ModifyDomain,
        Action::SetWebviewDomain,
        Action::BindTester,
        Action::UnbindTester,
        Action::SetPrivacySetting,
        Action::UploadIcpMedia,
        Action::CreateIcpVerifyTask,
        Action::ApplyIcpFiling,
        Action::CancelIcpFiling,
        Action::SubmitAuthAndIcp,
        Action::ChangeProfile,
        Action::AddCategory,
        Action::ModifyCategory,
        Action::DeleteCategory,
    ];

    /// The word stored in [`Activity::action`] (WeChat's endpoint names for the settings).
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::Commit => "commit",
            Action::PrivacyDetectionPending => "privacy_detection_pending",
            Action::SubmitAudit => "submit_audit",
            Action::UndoAudit => "undo_audit",
            Action::Release => "release",
            Action::GrayRelease => "grayrelease",
            Action::RevertGrayRelease => "revertgrayrelease",
            Action::Revert => "revert",
            Action::SpeedupAudit => "speedup_audit",
            Action::ChangeVisitStatus => "change_visitstatus",
            Action::ModifyDomain => "modify_domain",
            Action::SetWebviewDomain => "setwebviewdomain",
            Action::BindTester => "bind_tester",
            Action::UnbindTester => "unbind_tester",
            Action::SetPrivacySetting => "setprivacysetting",
            Action::UploadIcpMedia => "upload_icp_media",
            Action::CreateIcpVerifyTask => "create_icp_verifytask",
            Action::ApplyIcpFiling => "apply_icp_filing",
            Action::CancelIcpFiling => "cancel_apply_icp_filing",
            Action::SubmitAuthAndIcp => "submit_auth_and_icp",
            Action::ChangeProfile => "change_profile",
            Action::AddCategory => "addcategory",
            Action::ModifyCategory => "modifycategory",
            Action::DeleteCategory => "deletecategory",
        }
    }

    /// The action a stored word names; `None` for a word no longer written.
    pub fn parse(word: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == word)
    }
}

impl Activity {
    /// Whether this activity records `action`.
    pub fn is(&self, action: Action) -> bool {
        self.action == action.as_str()
    }
}

/// One app's stage, with the facts an operator needs at that stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum Stage {
    /// Nothing committed through wxopen yet.
    New,
    Committed {
        template_id: Option<u64>,
        user_version: Option<String>,
        ext_json_sha256: Option<String>,
        at: UnixTime,
    },
    /// WeChat's privacy detection of the committed code was still running at the last
    /// submission (61039); submitting again after `retry_after` is expected to pass.
    PrivacyDetectionPending {
        user_version: Option<String>,
        since: UnixTime,
        retry_after: UnixTime,
    },
    /// Submitted; WeChat has not reported on it since.
    Submitted {
        auditid: AuditId,
        user_version: Option<String>,
        at: UnixTime,
    },
    Auditing {
        auditid: AuditId,
        user_version: Option<String>,
        since: UnixTime,
    },
    Delayed {
        auditid: AuditId,
        user_version: Option<String>,
        reason: Option<String>,
    },
    Rejected {
        auditid: AuditId,
        user_version: Option<String>,
        reason: Option<String>,
        screenshots: Vec<String>,
    },
    Withdrawn {
        auditid: AuditId,
        user_version: Option<String>,
    },
    Approved {
        auditid: AuditId,
        user_version: Option<String>,
    },
    Released {
        auditid: Option<AuditId>,
        user_version: Option<String>,
        at: UnixTime,
    },
    /// Released to a share of users (分阶段发布).
    Gray {
        user_version: Option<String>,
        percentage: u64,
        at: UnixTime,
    },
    /// Rolled back to an earlier version (`None`: the previous one).
    Reverted {
        app_version: Option<u64>,
        at: UnixTime,
    },
}

/// How long WeChat's privacy detection is told to take (its own message says a minute).
pub const PRIVACY_RETRY_SECS: i64 = 60;

impl Stage {
    /// A new submission is refused in this stage (WeChat: 85009).
    pub fn audit_pending(&self) -> Option<AuditId> {
        match self {
            Stage::Submitted { auditid, .. }
            | Stage::Auditing { auditid, .. }
            | Stage::Delayed { auditid, .. } => Some(*auditid),
            _ => None,
        }
    }

    /// The stage the app's audit record says, as it stands now.
    pub fn of_audit(r: &AuditRecord) -> Stage {
        let user_version = r.user_version.clone();
        if let Some(at) = r.released_at {
            return Stage::Released {
                auditid: Some(r.auditid),
                user_version,
                at,
            };
        }
        match r.status {
            AuditStatus::Auditing if r.updated_at <= r.submitted_at => Stage::Submitted {
                auditid: r.auditid,
                user_version,
                at: r.submitted_at,
            },
            AuditStatus::Auditing => Stage::Auditing {
                auditid: r.auditid,
                user_version,
                since: r.submitted_at,
            },
            AuditStatus::Delayed => Stage::Delayed {
                auditid: r.auditid,
                user_version,
                reason: r.reason.clone(),
            },
            AuditStatus::Rejected => Stage::Rejected {
                auditid: r.auditid,
                user_version,
                reason: r.reason.clone(),
                screenshots: r.screenshots.clone(),
            },
            AuditStatus::Withdrawn => Stage::Withdrawn {
                auditid: r.auditid,
                user_version,
            },
            AuditStatus::Approved => Stage::Approved {
                auditid: r.auditid,
                user_version,
            },
        }
    }

    /// One transition: the stage after `a`, given the app's latest audit record. Actions that
    /// do not move the stage (domains, testers, speed-up...) leave it as it is.
    pub fn apply(self, a: &Activity, latest: Option<&AuditRecord>) -> Stage {
        let version = || {
            a.user_version.clone().or_else(|| match &self {
                Stage::Committed { user_version, .. }
                | Stage::PrivacyDetectionPending { user_version, .. } => user_version.clone(),
                _ => None,
            })
        };
        let Some(action) = Action::parse(&a.action) else {
            return self;
        };
        match action {
            Action::Commit => Stage::Committed {
                template_id: a.template_id,
                user_version: a.user_version.clone(),
                ext_json_sha256: a.details["ext_json_sha256"].as_str().map(str::to_owned),
                at: a.at,
            },
            Action::PrivacyDetectionPending => Stage::PrivacyDetectionPending {
                user_version: version(),
                since: a.at,
                retry_after: a.at + PRIVACY_RETRY_SECS,
            },
            Action::SubmitAudit => match (a.auditid, latest) {
                // The audit as pushes and polls have left it.
                (Some(id), Some(r)) if r.auditid == id => Stage::of_audit(r),
                // An older audit, superseded by a later one in the history.
                (Some(id), _) => Stage::Submitted {
                    auditid: id,
                    user_version: version(),
                    at: a.at,
                },
                (None, _) => self,
            },
            Action::UndoAudit => match (a.auditid, &self) {
                (Some(id), s) if s.audit_pending() == Some(id) => Stage::Withdrawn {
                    auditid: id,
                    user_version: self.user_version(),
                },
                _ => self,
            },
            Action::Release => Stage::Released {
                auditid: a.auditid,
                user_version: a.user_version.clone().or_else(|| self.user_version()),
                at: a.at,
            },
            Action::GrayRelease => Stage::Gray {
                user_version: self.user_version(),
                percentage: a.details["gray_percentage"].as_u64().unwrap_or(0),
                at: a.at,
            },
            Action::RevertGrayRelease => Stage::Released {
                auditid: None,
                user_version: None,
                at: a.at,
            },
            Action::Revert => Stage::Reverted {
                app_version: a.details["app_version"].as_u64(),
                at: a.at,
            },
            Action::SpeedupAudit
            | Action::ChangeVisitStatus
            | Action::ModifyDomain
            | Action::SetWebviewDomain
            | Action::BindTester
            | Action::UnbindTester
            | Action::SetPrivacySetting
            | Action::UploadIcpMedia
            | Action::CreateIcpVerifyTask
            | Action::ApplyIcpFiling
            | Action::CancelIcpFiling
            | Action::SubmitAuthAndIcp
            | Action::ChangeProfile
            | Action::AddCategory
            | Action::ModifyCategory
            | Action::DeleteCategory => self,
        }
    }

    fn user_version(&self) -> Option<String> {
        match self {
            Stage::Committed { user_version, .. }
            | Stage::PrivacyDetectionPending { user_version, .. }
            | Stage::Submitted { user_version, .. }
            | Stage::Auditing { user_version, .. }
            | Stage::Delayed { user_version, .. }
            | Stage::Rejected { user_version, .. }
            | Stage::Withdrawn { user_version, .. }
            | Stage::Approved { user_version, .. }
            | Stage::Released { user_version, .. }
            | Stage::Gray { user_version, .. } => user_version.clone(),
            Stage::New | Stage::Reverted { .. } => None,
        }
    }

    /// Folds the app's recent activity (newest first, as the store lists it) and its latest
    /// audit record into the stage. An audit the activity does not mention (submitted outside
    /// wxopen) counts from its submission time.
    pub fn fold(activity_newest_first: &[Activity], latest: Option<&AuditRecord>) -> Stage {
        let mentioned = latest.is_some_and(|r| {
            activity_newest_first
                .iter()
                .any(|a| a.is(Action::SubmitAudit) && a.auditid == Some(r.auditid))
        });
        let adopted = latest.filter(|_| !mentioned);
        let mut stage = Stage::New;
        let mut adopted_applied = false;
        for a in activity_newest_first.iter().rev() {
            if let Some(r) = adopted.filter(|r| !adopted_applied && r.submitted_at < a.at) {
                stage = Stage::of_audit(r);
                adopted_applied = true;
            }
            stage = stage.apply(a, latest);
        }
        match adopted {
            Some(r) if !adopted_applied => Stage::of_audit(r),
            _ => stage,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AppId;
    use serde_json::json;

    fn appid() -> AppId {
        AppId::parse("wx1234567890abcdef").unwrap()
    }

    fn act(action: &str, at: UnixTime) -> Activity {
        Activity {
            appid: appid(),
            at,
            operator: "ops".into(),
            action: action.into(),
            template_id: None,
            user_version: None,
            auditid: None,
            details: serde_json::Value::Null,
        }
    }

    fn commit(at: UnixTime, v: &str) -> Activity {
        Activity {
            template_id: Some(7),
            user_version: Some(v.into()),
            details: json!({ "ext_json_sha256": "ab" }),
            ..act(Action::Commit.as_str(), at)
        }
    }

    fn submit(at: UnixTime, id: u64, v: &str) -> Activity {
        Activity {
            auditid: Some(AuditId(id)),
            user_version: Some(v.into()),
            ..act(Action::SubmitAudit.as_str(), at)
        }
    }

    fn audit(id: u64, status: AuditStatus, submitted: UnixTime, updated: UnixTime) -> AuditRecord {
        AuditRecord {
            appid: appid(),
            auditid: AuditId(id),
            status,
            reason: (status == AuditStatus::Rejected).then(|| "类目不符".to_owned()),
            screenshots: vec![],
            template_id: Some(7),
            user_version: Some("1.0.0".into()),
            user_desc: None,
            submitted_at: submitted,
            updated_at: updated,
            released_at: None,
        }
    }

    /// The store lists newest first.
    fn newest_first(mut v: Vec<Activity>) -> Vec<Activity> {
        v.reverse();
        v
    }

    #[test]
    fn nothing_done_is_new() {
        assert_eq!(Stage::fold(&[], None), Stage::New);
    }

    #[test]
    fn the_whole_walk_from_commit_to_revert() {
        let c = commit(100, "1.0.0");
        let s = Stage::fold(std::slice::from_ref(&c), None);
        assert!(
            matches!(s, Stage::Committed { template_id: Some(7), ref ext_json_sha256, at: 100, .. } if ext_json_sha256.as_deref() == Some("ab")),
            "{s:?}"
        );

        let p = act(Action::PrivacyDetectionPending.as_str(), 110);
        let s = Stage::fold(&newest_first(vec![c.clone(), p.clone()]), None);
        assert_eq!(
            s,
            Stage::PrivacyDetectionPending {
                user_version: Some("1.0.0".into()),
                since: 110,
                retry_after: 170
            }
        );

        let sub = submit(200, 42, "1.0.0");
        let walk = vec![c.clone(), p, sub.clone()];
        let just_submitted = audit(42, AuditStatus::Auditing, 200, 200);
        let s = Stage::fold(&newest_first(walk.clone()), Some(&just_submitted));
        assert!(
            matches!(
                s,
                Stage::Submitted {
                    auditid: AuditId(42),
                    ..
                }
            ),
            "{s:?}"
        );
        assert_eq!(s.audit_pending(), Some(AuditId(42)));

        let polled = audit(42, AuditStatus::Auditing, 200, 900);
        let s = Stage::fold(&newest_first(walk.clone()), Some(&polled));
        assert!(
            matches!(
                s,
                Stage::Auditing {
                    auditid: AuditId(42),
                    since: 200,
                    ..
                }
            ),
            "{s:?}"
        );

        let delayed = audit(42, AuditStatus::Delayed, 200, 900);
        assert!(matches!(
            Stage::fold(&newest_first(walk.clone()), Some(&delayed)),
            Stage::Delayed {
                auditid: AuditId(42),
                ..
            }
        ));

        let rejected = audit(42, AuditStatus::Rejected, 200, 900);
        let s = Stage::fold(&newest_first(walk.clone()), Some(&rejected));
        assert!(
            matches!(s, Stage::Rejected { auditid: AuditId(42), ref reason, .. } if reason.as_deref() == Some("类目不符")),
            "{s:?}"
        );
        assert_eq!(s.audit_pending(), None);

        let approved = audit(42, AuditStatus::Approved, 200, 900);
        let s = Stage::fold(&newest_first(walk.clone()), Some(&approved));
        assert!(
            matches!(
                s,
                Stage::Approved {
                    auditid: AuditId(42),
                    ..
                }
            ),
            "{s:?}"
        );

        let mut walk = walk;
        walk.push(Activity {
            auditid: Some(AuditId(42)),
            user_version: Some("1.0.0".into()),
            ..act(Action::Release.as_str(), 1000)
        });
        let mut released = approved.clone();
        released.release(1000);
        let s = Stage::fold(&newest_first(walk.clone()), Some(&released));
        assert_eq!(
            s,
            Stage::Released {
                auditid: Some(AuditId(42)),
                user_version: Some("1.0.0".into()),
                at: 1000
            }
        );

        walk.push(Activity {
            details: json!({ "gray_percentage": 20 }),
            ..act(Action::GrayRelease.as_str(), 1100)
        });
        let s = Stage::fold(&newest_first(walk.clone()), Some(&released));
        assert!(
            matches!(s, Stage::Gray { percentage: 20, ref user_version, .. } if user_version.as_deref() == Some("1.0.0")),
            "{s:?}"
        );

        walk.push(Activity {
            details: json!({ "app_version": 3, "previous": false }),
            ..act(Action::Revert.as_str(), 1200)
        });
        let s = Stage::fold(&newest_first(walk), Some(&released));
        assert_eq!(
            s,
            Stage::Reverted {
                app_version: Some(3),
                at: 1200
            }
        );
    }

    #[test]
    fn an_undo_withdraws_the_pending_audit_and_a_new_commit_starts_over() {
        let walk = vec![
            commit(100, "1.0.0"),
            submit(200, 42, "1.0.0"),
            Activity {
                auditid: Some(AuditId(42)),
                ..act(Action::UndoAudit.as_str(), 300)
            },
        ];
        // The undo's own write to the audit record may have failed: the activity still says it.
        let stale = audit(42, AuditStatus::Auditing, 200, 200);
        let s = Stage::fold(&newest_first(walk.clone()), Some(&stale));
        assert!(
            matches!(
                s,
                Stage::Withdrawn {
                    auditid: AuditId(42),
                    ..
                }
            ),
            "{s:?}"
        );

        let mut walk = walk;
        walk.push(commit(400, "1.0.1"));
        let s = Stage::fold(&newest_first(walk), Some(&stale));
        assert!(
            matches!(s, Stage::Committed { ref user_version, at: 400, .. } if user_version.as_deref() == Some("1.0.1")),
            "{s:?}"
        );
    }

    #[test]
    fn an_audit_submitted_outside_wxopen_counts_from_its_submission() {
        let outside = audit(77, AuditStatus::Auditing, 500, 600);
        // Committed through wxopen, then submitted in WeChat's console.
        let s = Stage::fold(&[commit(100, "1.0.0")], Some(&outside));
        assert!(
            matches!(
                s,
                Stage::Auditing {
                    auditid: AuditId(77),
                    ..
                }
            ),
            "{s:?}"
        );
        // Submitted outside, then a newer commit through wxopen.
        let s = Stage::fold(&[commit(900, "2.0.0")], Some(&outside));
        assert!(matches!(s, Stage::Committed { at: 900, .. }), "{s:?}");
        // Nothing through wxopen at all.
        assert!(matches!(
            Stage::fold(&[], Some(&outside)),
            Stage::Auditing {
                auditid: AuditId(77),
                ..
            }
        ));
    }

    #[test]
    fn actions_that_do_not_move_the_stage_leave_it() {
        let walk = vec![
            commit(100, "1.0.0"),
            act("modify_domain", 150),
            act("bind_tester", 160),
        ];
        assert!(matches!(
            Stage::fold(&newest_first(walk), None),
            Stage::Committed { at: 100, .. }
        ));
    }

    #[test]
    fn the_stage_serializes_with_its_name() {
        let v = serde_json::to_value(Stage::Approved {
            auditid: AuditId(42),
            user_version: Some("1.0.0".into()),
        })
        .unwrap();
        assert_eq!(
            v,
            json!({ "stage": "approved", "auditid": 42, "user_version": "1.0.0" })
        );
    }
}
