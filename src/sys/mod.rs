//! Linux kernel interfaces that neither std nor nix wrap: seccomp user notification and pidfd.
//!
//! Every `unsafe` block of hot's kernel plumbing lives in these small modules, each with its
//! SAFETY note; the rest of the code uses the safe types they export.

pub mod pidfd;
pub mod seccomp;
