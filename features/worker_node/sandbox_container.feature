Feature: A sandbox container runs and returns its result
  Every sandbox job runs in a container created through the ContainerRuntime layer: no network, the
  task's workspace bind-mounted at /workspace as the working directory, stdout and stderr kept apart,
  the exit code reported as it is, and the container removed afterwards, also when it runs too long.

  Scenario: A sandbox container runs and returns stdout, stderr and exit code
    Given a host workspace directory for the sandbox container
    When a sandbox container runs "echo hi; echo err >&2; echo data > /workspace/f; exit 3" with network none and the workspace at /workspace
    Then the sandbox container exited with code 3
    And the sandbox container's stdout is the line "hi"
    And the sandbox container's stderr is the line "err"
    And the host workspace file "f" holds the line "data"
    And no sandbox container of this scenario is left behind

  Scenario: A sandbox container that outlives its timeout is stopped and removed
    When a sandbox container runs "echo started; sleep 100" with a timeout of 1 second
    Then the sandbox container run is reported as timed out
    And the sandbox container's stdout is the line "started"
    And no sandbox container of this scenario is left behind
