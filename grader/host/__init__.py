"""The trusted side's hold on the untrusted one: the sandbox levels, staging a submission, the
zygote and its workers."""
