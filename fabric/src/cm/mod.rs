//! IB CM over QP1, rdma_cm flavour.
