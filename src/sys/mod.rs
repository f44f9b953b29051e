//! Kernel interfaces that neither std nor nix wrap safely: seccomp user notification and pidfd
//! (Linux), and the terminal ioctls (every OS).
//!
//! Every `unsafe` block of hot's kernel plumbing lives in these small modules, each with its
//! SAFETY note; the rest of the code uses the safe types they export.

#[cfg(linux_native)]
pub mod pidfd;
#[cfg(linux_native)]
pub mod seccomp;
pub mod tty;
