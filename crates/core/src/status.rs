//! The exit status of any error chain: the typed cause of every layer (`error::Error`,
//! the write task's errors, a broken pipe). Above both `error` and `files`, so that neither
//! imports the other.

use crate::error::{Error, ExitStatus};
#[cfg(test)]
use crate::error::{Failure, FailureKind};

/// Maps any error to the process exit status by finding the typed cause in its chain.
pub fn exit_status(err: &anyhow::Error) -> ExitStatus {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<Error>() {
            return e.exit_status();
        }
        if cause.is::<crate::files::write::WriteError>()
            || cause.is::<crate::files::write::LimitError>()
            || cause.is::<crate::files::guard::Refused>()
        {
            return ExitStatus::WriteFailed;
        }
        if let Some(e) = cause.downcast_ref::<std::io::Error>()
            && e.kind() == std::io::ErrorKind::BrokenPipe
        {
            return ExitStatus::Success;
        }
    }
    ExitStatus::Failure
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn case(err: anyhow::Error, want: ExitStatus) {
        assert_eq!(exit_status(&err), want, "{err:#}");
    }

    #[test]
    fn each_error_maps_to_its_code() {
        let timeout = Failure::new(FailureKind::Timeout, "deadline");
        let refused = Failure::new(FailureKind::Unreachable, "refused");
        case(Error::Usage("x".into()).into(), ExitStatus::Usage);
        case(Error::Config("x".into()).into(), ExitStatus::Config);
        case(
            Error::NoRoute(vec![refused.clone(), timeout.clone()]).into(),
            ExitStatus::Timeout,
        );
        case(
            Error::NoRoute(vec![timeout, refused.clone()]).into(),
            ExitStatus::Unavailable,
        );
        case(
            Error::Interrupted {
                delivered: 3,
                cause: refused,
            }
            .into(),
            ExitStatus::Interrupted,
        );
        case(
            anyhow::Error::from(std::io::Error::from(std::io::ErrorKind::BrokenPipe)),
            ExitStatus::Success,
        );
        case(anyhow::anyhow!("other"), ExitStatus::Failure);
        case(
            Error::Unavailable("x".into()).into(),
            ExitStatus::Unavailable,
        );
        case(Error::Timeout("x".into()).into(), ExitStatus::Timeout);
        case(Error::Sync("x".into()).into(), ExitStatus::SyncFailed);
        case(
            anyhow::Error::from(Error::Config("bad".into())).context("loading"),
            ExitStatus::Config,
        );
    }
}
