@gateway
Feature: User gateway tasks API
  A task is stored with exactly one queued job in one transaction and answered 201 "queued"; the dispatcher
  runs it later. Only the task's owner (or an admin) sees it; everyone else gets 404.

  Background:
    Given the user gateway is running
    And a gateway user "alice" with password "alice-secret-1"
    And a gateway user "bob" with password "bob-secret-1"
    And "alice" is logged in to the gateway
    And "bob" is logged in to the gateway

  Scenario: Create a script task and read it back by id and by name
    When "alice" creates a gateway task:
      """
      {"prompt": "echo hello", "input_mode": "script", "task_name": "My Task", "attachments": ["tmp/a.txt"]}
      """
    Then the gateway answers 201
    And the gateway task has status "queued" and name "my-task"
    And the gateway task echoes the attachments "tmp/a.txt"
    And the gateway task has exactly one queued job with payload:
      """
      {"command": ["sh", "-c", "echo hello"]}
      """
    When "alice" reads the gateway task by its id
    Then the gateway answers 200 with the same task
    When "alice" reads the gateway task "my-task"
    Then the gateway answers 200 with the same task
    And the gateway task list of "alice" contains the task

  Scenario: A prompt task becomes an inference job
    When "alice" creates a gateway task:
      """
      {"prompt": "Say hello"}
      """
    Then the gateway answers 201
    And the gateway task has status "queued" and name "task_name_001"
    And the gateway task has exactly one queued job with payload:
      """
      {"inference": {"prompt": "Say hello"}}
      """

  Scenario: Another user cannot see the task; the admin can
    Given "alice" created a gateway script task "echo secret"
    When "bob" reads the gateway task by its id
    Then the gateway answers 404 with problem "not_found"
    When "bob" asks for the gateway task result
    Then the gateway answers 404 with problem "not_found"
    When "bob" cancels the gateway task
    Then the gateway answers 404 with problem "not_found"
    And the gateway task list of "bob" does not contain the task
    Given "admin" is logged in to the gateway
    When "admin" reads the gateway task by its id
    Then the gateway answers 200 with the same task

  Scenario: The result before and after the job completes
    Given "alice" created a gateway script task "echo hello"
    When "alice" asks for the gateway task result
    Then the gateway answers 200
    And the gateway result has status "queued" and one "queued" job without result or timestamps
    When the dispatcher records the gateway job as completed with stdout "hello\n"
    And "alice" asks for the gateway task result
    Then the gateway answers 200
    And the gateway result has status "completed" and one "completed" job whose result text decodes to exit code 0 and stdout "hello\n"
    And the gateway job timestamps are whole-second UTC
    When "alice" reads the gateway task logs
    Then the gateway logs show stdout "hello\n"

  Scenario: Cancel a queued task, then again
    Given "alice" created a gateway script task "sleep 300"
    When "alice" cancels the gateway task
    Then the gateway answers 200
    And the gateway task is canceled with its job
    When "alice" cancels the gateway task
    Then the gateway answers 409 with problem "conflict"

  Scenario: Unknown fields are refused, naming each one
    When "alice" creates a gateway task:
      """
      {"prompt": "echo hi", "image": "alpine:latest", "use_sba": true}
      """
    Then the gateway answers 400 with problem "validation"
    And the gateway problem names the fields "image" and "use_sba"
