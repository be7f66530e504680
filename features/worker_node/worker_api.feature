@worker_api
Feature: The worker API runs jobs in locked-down sandbox containers
  The real worker-api program, started with a bearer token from a file, runs each job in a sandbox container
  on the real engine: no network, the job's workspace at /workspace, only the context variables and the job's
  own env, output and exit code returned, and nothing left behind, also when the job runs too long.

  Background:
    Given the worker API program is running

  Scenario: The worker is healthy and ready
    Then the worker API /healthz answers 200 "ok"
    And the worker API /readyz answers 200 "ready"

  Scenario: A sandbox job returns stdout, stderr and exit code 0
    When the worker API runs the sandbox script "echo hello; echo oops >&2"
    Then the worker API answers 200 with job status "completed" and exit code 0
    And the worker job's stdout is the line "hello"
    And the worker job's stderr is the line "oops"
    And the worker job reply has millisecond start and end times and nothing truncated
    And the worker job's record answers the same reply

  Scenario: A failing command reports its exit code
    When the worker API runs the sandbox script "echo partial; exit 7"
    Then the worker API answers 200 with job status "failed" and exit code 7
    And the worker job's stdout is the line "partial"

  Scenario: A job that outlives its timeout is stopped and no container is left
    When the worker API runs the sandbox script "echo started; sleep 60" with a timeout of 1 second
    Then the worker API answers 200 with job status "timeout" and exit code -1
    And the worker job's stdout is the line "started"
    And no container of the worker job is left
    And the worker job's record answers the same reply

  Scenario Outline: A sandbox cannot reach the host's services with network policy <policy>
    Given a TCP server on the host that the host itself can reach
    When the worker API runs a sandbox job probing that server with network policy "<policy>"
    Then the worker API answers 200 with job status "completed" and exit code 0
    And the sandbox saw only the loopback interface
    And every probe from the sandbox was refused
    And the host server saw no connection

    Examples:
      | policy     |
      | none       |
      | restricted |

  Scenario: /workspace is the working directory and its files land in the job's host workspace
    When the worker API runs the sandbox script "pwd; echo data > result.txt; id -u"
    Then the worker API answers 200 with job status "completed" and exit code 0
    And the worker job's stdout is the lines "/workspace" and "65532"
    And the job's host workspace under the mount root holds "result.txt" with the line "data"

  Scenario: The sandbox env holds the context variables, the job's env and none of the worker's secrets
    When the worker API runs the sandbox script "env" with env "FOO=bar" and the forged "CYNODE_TASK_ID=forged"
    Then the worker API answers 200 with job status "completed" and exit code 0
    And the sandbox env has CYNODE_TASK_ID, CYNODE_JOB_ID and CYNODE_WORKSPACE_DIR "/workspace" for this job
    And the sandbox env has "FOO=bar"
    And the sandbox env holds none of the worker's secrets

  Scenario: A missing or wrong bearer token is refused with 401
    When a job is posted to the worker API without a bearer token
    Then the worker API answers 401 with problem "authentication" and a Bearer challenge
    When a job is posted to the worker API with a wrong bearer token
    Then the worker API answers 401 with problem "authentication" and a Bearer challenge
    When the worker job status is read with a wrong bearer token
    Then the worker API answers 401 with problem "authentication" and a Bearer challenge

  Scenario Outline: A hostile id "<id>" is refused with 400 before it is used
    When the worker API is sent a sandbox job whose <field> is "<id>"
    Then the worker API answers 400 with problem "validation"
    And nothing was created outside the worker's mount root

    Examples:
      | field   | id          |
      | job_id  | ..          |
      | job_id  | ../../etc   |
      | job_id  | a/b         |
      | job_id  | .hidden     |
      | job_id  | -rf         |
      | task_id | ../x        |

  Scenario: A hostile id in the status path is refused with 400
    When the worker job status of "a..b" is read
    Then the worker API answers 400 with problem "validation"

  Scenario: An oversized body is refused with 413
    When a sandbox job with a body over the worker's limit is posted
    Then the worker API answers 413 with problem "payload_too_large"

  Scenario: An inference job answers with the node-local inference server's text, once per job id
    Given the node-local inference stand-in is running
    When the worker API runs the inference job "standin:latest" with the prompt "Say hello"
    Then the worker API answers 200 with job status "completed" and exit code 0
    And the worker job's stdout is the stand-in's answer for "standin:latest" and "Say hello"
    When the same inference job id is sent again with the prompt "Something else"
    Then the worker API answers the stored reply again
