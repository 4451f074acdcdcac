<?php
/**
 * Plugin Name: Syndicate tests
 * Description: Test-only: retries after 1 s instead of 30 s, so a retry is seen within a test.
 */
add_filter(
	'syndicate_retry_base',
	static function () {
		return 1;
	}
);
