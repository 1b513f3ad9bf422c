//! Reading a multipart upload's photo field, and the answer for a form
//! that could not be read; the kiosk's and the phone's uploads share them.

use rocket::form::Errors;
use rocket::fs::TempFile;
use rocket::http::Status as HttpStatus;
use tokio::io::AsyncReadExt;

use super::error::ApiError;

pub fn form_error(errors: &Errors<'_>, limit_mb: u32) -> ApiError {
    use rocket::form::error::ErrorKind;
    for e in errors.iter() {
        match &e.kind {
            // Other I/O errors here are the client's bytes (bad UTF-8, a
            // cut-off body): a 400 below.
            ErrorKind::Io(io) if crate::jobs::is_disk_full(io) => return ApiError::storage_full(),
            ErrorKind::InvalidLength { .. } => {
                return ApiError::new(
                    HttpStatus::PayloadTooLarge,
                    "upload_too_large",
                    format!(
                        "That photo is larger than {limit_mb} MB. Please choose a smaller one."
                    ),
                );
            }
            ErrorKind::Missing => {
                let field = e.name.as_ref().map(|n| n.to_string()).unwrap_or_default();
                return ApiError::new(
                    HttpStatus::BadRequest,
                    "missing_field",
                    format!("The form field `{field}` is missing."),
                );
            }
            _ => {}
        }
    }
    ApiError::new(
        HttpStatus::BadRequest,
        "bad_form",
        format!("The upload could not be read: {errors}"),
    )
}

/// The bytes of an uploaded file field.
pub async fn read_upload(file: &TempFile<'_>) -> Result<Vec<u8>, ApiError> {
    let mut bytes = Vec::new();
    let mut reader = file.open().await.map_err(ApiError::internal)?;
    reader
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| ApiError::io("reading upload", &e))?;
    Ok(bytes)
}
