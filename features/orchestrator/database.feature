Feature: The database comes up and migrates
  Every program opens its database through one layer. With DATABASE_URL set it connects there;
  without it, it runs an embedded PostgreSQL in the user's data directory. Either way the Phase 1
  schema is migrated before anything uses the database, and migrating again changes nothing.

  Scenario: With DATABASE_URL set, the database layer connects there and migrates
    Given an empty database on the test PostgreSQL server
    And DATABASE_URL points at that database
    When the database layer starts
    Then the database records every migration as applied
    And the database has every migration's tables
    When the database layer stops
    And the database layer starts
    Then the database still records the migrations of the first start only

  Scenario: Without DATABASE_URL, the database layer runs an embedded PostgreSQL
    Given DATABASE_URL is unset and the embedded database directory does not exist yet
    When the database layer starts
    Then an embedded PostgreSQL serves the "cynode" database from that directory
    And the database records every migration as applied
    And the database has every migration's tables
    When the database layer stops
    Then no embedded PostgreSQL runs in that directory any more

  Scenario: The embedded PostgreSQL comes back after a crash
    Given DATABASE_URL is unset and the embedded database directory does not exist yet
    And the database layer starts
    When the embedded PostgreSQL is killed with SIGKILL, leaving its postmaster.pid behind
    And the database layer stops
    And the database layer starts
    Then an embedded PostgreSQL serves the "cynode" database from that directory
    And the database still records the migrations of the first start only
