//! The few socket syscalls the ring and the injector share, with errors
//! mapped to [`CaptureError`] (EPERM/EACCES become ERR_PERMISSION).

use std::ffi::CString;
use std::io;

use crate::CaptureError;

pub(crate) fn last_err(context: &'static str) -> CaptureError {
    let source = io::Error::last_os_error();
    match source.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => CaptureError::Permission(source),
        _ => CaptureError::Io { context, source },
    }
}

pub(crate) fn setopt<T>(
    fd: libc::c_int,
    level: libc::c_int,
    name: libc::c_int,
    v: &T,
) -> libc::c_int {
    // SAFETY: v points to a live T of the given size.
    unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            v as *const T as *const libc::c_void,
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    }
}

/// The interface's name as a C string and its index.
pub(crate) fn interface_index(iface: &str) -> Result<(CString, u32), CaptureError> {
    let name = CString::new(iface).map_err(|_| CaptureError::NoSuchInterface(iface.into()))?;
    // SAFETY: name is a valid C string.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if ifindex == 0 {
        return Err(CaptureError::NoSuchInterface(iface.into()));
    }
    Ok((name, ifindex))
}

/// An interface ioctl on `fd` (SIOCGIFMTU, SIOCGIFHWADDR): the filled ifreq.
pub(crate) fn ifreq(
    fd: libc::c_int,
    name: &CString,
    request: libc::Ioctl,
    context: &'static str,
) -> Result<libc::ifreq, CaptureError> {
    // SAFETY: zeroed ifreq is valid; the name fits (if_nametoindex took it).
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(name.as_bytes()) {
        *d = *s as libc::c_char;
    }
    // SAFETY: req is a valid ifreq for these requests.
    if unsafe { libc::ioctl(fd, request, &mut req) } < 0 {
        return Err(last_err(context));
    }
    Ok(req)
}
