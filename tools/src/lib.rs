//! Host-side helpers shared by the srpboot tools and their tests.
