<?php
/**
 * The tests' throwaway database on the machine's MariaDB: `php db.php create|drop NAME`
 * prints "ok" or the error (exit 1); `php db.php rows NAME POST_ID` prints the plugin's queue
 * rows of a post as JSON (read without loading WordPress: much faster). Only names made by the
 * tests are accepted.
 */
[$script, $action, $name, $post_id] = $argv + array( '', '', '', '0' );
if ( ! preg_match( '/^wp_syndicate_test_[a-f0-9]{8,32}$/', $name ) ) {
	fwrite( STDERR, "bad database name\n" );
	exit( 2 );
}
mysqli_report( MYSQLI_REPORT_OFF );
$db = @mysqli_connect( getenv( 'WP_TEST_DB_HOST' ) ?: '127.0.0.1', getenv( 'WP_TEST_DB_USER' ) ?: 'root', getenv( 'WP_TEST_DB_PASSWORD' ) ?: '', '', (int) ( getenv( 'WP_TEST_DB_PORT' ) ?: 3306 ) );
if ( ! $db ) {
	echo mysqli_connect_error(), "\n";
	exit( 1 );
}
if ( 'rows' === $action ) {
	mysqli_select_db( $db, $name );
	$result = mysqli_query( $db, 'SELECT * FROM wp_syndicate_events WHERE post_id = ' . (int) $post_id . ' ORDER BY id' );
	echo json_encode( $result ? mysqli_fetch_all( $result, MYSQLI_ASSOC ) : null ), "\n";
	exit( $result ? 0 : 1 );
}
$sql = 'create' === $action ? "CREATE DATABASE `$name` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci" : "DROP DATABASE IF EXISTS `$name`";
if ( ! mysqli_query( $db, $sql ) ) {
	echo mysqli_error( $db ), "\n";
	exit( 1 );
}
echo "ok\n";
