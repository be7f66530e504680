@worker_api @security
Feature: A sandbox job cannot take the node's disk or its CPUs
  The worker runs each sandbox under a CPU quota, on a read-only root filesystem with a size-capped tmpfs /tmp, and
  watches its workspace: a job that grows it past the cap is stopped and ends failed, saying why.

  Background:
    Given the worker API program is running

  Scenario: The root filesystem is read-only and /tmp is a tmpfs capped in size
    When the worker API runs the sandbox script "if touch /probe 2>/dev/null; then echo root-writable; else echo root-read-only; fi; if dd if=/dev/zero of=/tmp/fill bs=1M count=64 2>/dev/null; then echo tmp-unbounded; else echo tmp-capped; fi"
    Then the worker API answers 200 with job status "completed" and exit code 0
    And the worker job's stdout is the lines "root-read-only" and "tmp-capped"

  Scenario: The sandbox runs under a CPU quota
    When the worker API runs the sandbox script "cat /sys/fs/cgroup/cpu.max 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us"
    Then the worker API answers 200 with job status "completed" and exit code 0
    And the sandbox's CPU quota is half a CPU

  Scenario: A job that fills its workspace past the cap is stopped and fails with the reason
    When the worker API runs the sandbox script "dd if=/dev/zero of=fill bs=1M count=64 2>/dev/null; echo wrote; sleep 60"
    Then the worker API answers 200 with job status "failed" and exit code -1
    And the worker job's stderr ends with the line "cynode-worker: job stopped: its workspace exceeded the limit of 16777216 bytes"
    And no container of the worker job is left
