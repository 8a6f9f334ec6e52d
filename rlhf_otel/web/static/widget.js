// rlhf-feedback placeholder
