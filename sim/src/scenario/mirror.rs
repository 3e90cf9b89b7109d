//! Mirrors: a server file declared `same_as` another server's file serves the same bytes and
//! the same Last-Modified (and follows the same changes), as the copies of a file on a
//! download farm do. SetRemoteName scenarios move a job between them (spec §3.8).

use bitsim_engine::core::http::RemoteUrl;

use super::{Located, Scenario, ServerFile, at};

impl Scenario {
    /// Whose content `http://host/path` serves: the file itself, or the file it mirrors.
    pub fn content_source(&self, host: &str, path: &str) -> (String, String) {
        let mirrored = self
            .servers
            .iter()
            .map(|server| server.get_ref())
            .filter(|server| server.name == host)
            .flat_map(|server| &server.files)
            .find(|file| file.path == path)
            .and_then(|file| file.same_as.as_deref())
            .and_then(|url| RemoteUrl::parse(url).ok());
        match mirrored {
            Some(url) => (url.host, url.path_and_query),
            None => (host.to_owned(), path.to_owned()),
        }
    }

    /// Every `same_as` names another server's file that is not a mirror itself, with the
    /// same size and changes (stated again, so the file reads on its own).
    pub(super) fn validate_mirrors(&self) -> Result<(), Located> {
        for server in &self.servers {
            let span = server.span();
            for file in &server.get_ref().files {
                let Some(same_as) = &file.same_as else { continue };
                let source = self.mirrored_file(same_as);
                let fail = |why: &str| {
                    at(span.clone(), format!("servers.files.same_as: `{same_as}` {why}"))
                };
                let Some((host, source)) = source else {
                    return Err(fail("is not the http:// URL of a file of another server"));
                };
                if host == server.get_ref().name || source.same_as.is_some() {
                    return Err(fail("must name another server's own file, not a mirror"));
                }
                let changes = |file: &ServerFile| -> Vec<(u128, Option<u64>)> {
                    let at = |c: &super::Change| (c.at.0.as_millis(), c.size.map(|s| s.0));
                    file.changes.iter().map(at).collect()
                };
                if source.size.0 != file.size.0 || changes(source) != changes(file) {
                    return Err(fail("has another size or other changes than this mirror"));
                }
            }
        }
        Ok(())
    }

    fn mirrored_file(&self, url: &str) -> Option<(String, &ServerFile)> {
        let url = RemoteUrl::parse(url).ok()?;
        let server = self.servers.iter().find(|server| server.get_ref().name == url.host)?;
        let file = server.get_ref().files.iter().find(|file| file.path == url.path_and_query)?;
        Some((url.host, file))
    }
}
