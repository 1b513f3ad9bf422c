//! `smileloop admin set-password`.

use crate::config::Settings;

pub(super) fn set_password(settings: &Settings) -> Result<(), String> {
    use std::io::IsTerminal;
    let (password, again) = if std::io::stdin().is_terminal() {
        let first =
            rpassword::prompt_password("New staff password: ").map_err(|e| e.to_string())?;
        let again = rpassword::prompt_password("Again: ").map_err(|e| e.to_string())?;
        (first, again)
    } else {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| format!("reading the password from stdin: {e}"))?;
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        (line.clone(), line)
    };
    crate::admin::auth::check_new_password(&password, &again).map_err(|e| e.to_string())?;
    let store = crate::jobs::JobStore::open(&settings.data_dir.join("db")).map_err(|e| {
        format!(
            "{e} (is the kiosk running? stop it first, or change the password on the admin page)"
        )
    })?;
    let tree = store.tree("staff").map_err(|e| e.to_string())?;
    crate::admin::StaffAuth::new(tree)
        .set_password(&password)
        .map_err(|e| e.to_string())?;
    println!("Staff password set; every staff device is signed out.");
    Ok(())
}
