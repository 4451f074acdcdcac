<?php
/**
 * The durable outbox: every event is a row of its own table before anything is sent, so an
 * event survives a failed request, a PHP timeout and a restart, and is sent by WP-Cron.
 *
 * States: queued (waiting for its next attempt), sending (claimed by one cron run until
 * lease_until; a crashed run's claim expires), sent, failed (refused by the service for good,
 * or given up after the retry window), superseded (a newer event of the same post replaced it
 * before it was ever attempted).
 *
 * @package Syndicate
 */

defined( 'ABSPATH' ) || exit;

/**
 * The `{prefix}syndicate_events` table.
 */
final class Syndicate_Queue {

	const DB_VERSION = '1';

	/**
	 * Rows kept per post once they are finished (sent, failed, superseded).
	 */
	const KEEP_PER_POST = 10;

	/**
	 * Characters kept of an error text; field errors kept of a 422.
	 */
	const ERROR_CHARS = 1000;
	const FIELD_ERRORS = 50;

	/**
	 * Hooks: create or upgrade the table when needed (a network activation, an upgrade).
	 */
	public static function register(): void {
		add_action( 'init', array( __CLASS__, 'maybe_install' ) );
	}

	/**
	 * The table's name.
	 *
	 * @return string
	 */
	public static function table(): string {
		global $wpdb;
		return $wpdb->prefix . 'syndicate_events';
	}

	/**
	 * Activation: the table, and when the plugin was first activated (older posts are not
	 * shared when they are first sent).
	 */
	public static function activate(): void {
		self::install();
		add_option( 'syndicate_activated_at', time(), '', false );
		Syndicate_Sender::schedule_sweep();
	}

	/**
	 * Install the table if this site's copy is missing or older.
	 */
	public static function maybe_install(): void {
		if ( get_option( 'syndicate_db_version' ) !== self::DB_VERSION ) {
			self::install();
			add_option( 'syndicate_activated_at', time(), '', false );
		}
	}

	/**
	 * Create or upgrade the table (dbDelta).
	 */
	public static function install(): void {
		global $wpdb;
		require_once ABSPATH . 'wp-admin/includes/upgrade.php';
		$table   = self::table();
		$charset = $wpdb->get_charset_collate();
		dbDelta(
			"CREATE TABLE {$table} (
  id bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  webhook_id varchar(191) NOT NULL,
  post_id bigint(20) unsigned NOT NULL,
  event_type varchar(32) NOT NULL,
  version bigint(20) unsigned NOT NULL,
  fingerprint char(64) NOT NULL,
  body longtext NOT NULL,
  state varchar(16) NOT NULL,
  attempts int(10) unsigned NOT NULL DEFAULT 0,
  created_at bigint(20) unsigned NOT NULL,
  next_attempt_at bigint(20) unsigned NOT NULL,
  lease_until bigint(20) unsigned NOT NULL DEFAULT 0,
  claim varchar(64) NOT NULL DEFAULT '',
  sent_at bigint(20) unsigned NOT NULL DEFAULT 0,
  last_status smallint(5) unsigned NOT NULL DEFAULT 0,
  last_error text NOT NULL,
  field_errors text NOT NULL,
  PRIMARY KEY  (id),
  UNIQUE KEY webhook_id (webhook_id),
  KEY post_id (post_id),
  KEY due (state,next_attempt_at)
) {$charset};"
		);
		update_option( 'syndicate_db_version', self::DB_VERSION, true ); // Read on every request.
	}

	/**
	 * Store an event. A queued event of the same post that was never attempted is superseded:
	 * the service only needs the newest state.
	 *
	 * @param int    $post_id     The post.
	 * @param string $type        article.published, article.updated or article.unpublished.
	 * @param int    $version     The article's version.
	 * @param string $fingerprint What the article says, hashed (without version and times).
	 * @param string $webhook_id  The event id, stable for this post state.
	 * @param string $body        The JSON body.
	 * @param int    $not_before  Unix time of the first attempt.
	 * @return int|false The row id, or false when the database refused it.
	 */
	public static function add( int $post_id, string $type, int $version, string $fingerprint, string $webhook_id, string $body, int $not_before ) {
		global $wpdb;
		$table = self::table();
		// phpcs:ignore WordPress.DB.DirectDatabaseQuery -- the plugin's own table; nothing to cache.
		$wpdb->query( $wpdb->prepare( "UPDATE {$table} SET state = 'superseded' WHERE post_id = %d AND state = 'queued' AND attempts = 0", $post_id ) ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
		// phpcs:ignore WordPress.DB.DirectDatabaseQuery
		$ok = $wpdb->insert(
			$table,
			array(
				'webhook_id'      => $webhook_id,
				'post_id'         => $post_id,
				'event_type'      => $type,
				'version'         => $version,
				'fingerprint'     => $fingerprint,
				'body'            => $body,
				'state'           => 'queued',
				'created_at'      => time(),
				'next_attempt_at' => $not_before,
				'last_error'      => '',
				'field_errors'    => '',
			),
			array( '%s', '%d', '%s', '%d', '%s', '%s', '%s', '%d', '%d', '%s', '%s' )
		);
		return $ok ? (int) $wpdb->insert_id : false;
	}

	/**
	 * The newest row of a post that is not superseded, or null.
	 *
	 * @param int $post_id The post.
	 * @return object|null
	 */
	public static function latest( int $post_id ): ?object {
		global $wpdb;
		$table = self::table();
		// phpcs:ignore WordPress.DB.DirectDatabaseQuery, WordPress.DB.PreparedSQL.InterpolatedNotPrepared
		$row = $wpdb->get_row( $wpdb->prepare( "SELECT * FROM {$table} WHERE post_id = %d AND state <> 'superseded' ORDER BY id DESC LIMIT 1", $post_id ) );
		return $row ? $row : null;
	}

	/**
	 * A post's rows, newest first.
	 *
	 * @param int $post_id The post.
	 * @param int $limit   At most this many.
	 * @return array<object>
	 */
	public static function for_post( int $post_id, int $limit = 5 ): array {
		global $wpdb;
		$table = self::table();
		// phpcs:ignore WordPress.DB.DirectDatabaseQuery, WordPress.DB.PreparedSQL.InterpolatedNotPrepared
		return (array) $wpdb->get_results( $wpdb->prepare( "SELECT id, webhook_id, event_type, version, state, attempts, created_at, next_attempt_at, sent_at, last_status, last_error, field_errors FROM {$table} WHERE post_id = %d ORDER BY id DESC LIMIT %d", $post_id, $limit ) );
	}

	/**
	 * Ids of the rows due now (queued and due, or sending with an expired claim), oldest first.
	 *
	 * @param int $limit At most this many.
	 * @return array<int>
	 */
	public static function due( int $limit ): array {
		global $wpdb;
		$table = self::table();
		$now   = time();
		// phpcs:ignore WordPress.DB.DirectDatabaseQuery, WordPress.DB.PreparedSQL.InterpolatedNotPrepared
		$ids = $wpdb->get_col( $wpdb->prepare( "SELECT id FROM {$table} WHERE (state = 'queued' AND next_attempt_at <= %d) OR (state = 'sending' AND lease_until < %d) ORDER BY id ASC LIMIT %d", $now, $now, $limit ) );
		return array_map( 'intval', (array) $ids );
	}

	/**
	 * The earliest time a queued row is due, or null when nothing waits.
	 *
	 * @return int|null
	 */
	public static function next_due(): ?int {
		global $wpdb;
		$table = self::table();
		// phpcs:ignore WordPress.DB.DirectDatabaseQuery, WordPress.DB.PreparedSQL.InterpolatedNotPrepared
		$next = $wpdb->get_var( "SELECT MIN(next_attempt_at) FROM {$table} WHERE state = 'queued'" );
		return null === $next ? null : (int) $next;
	}

	/**
	 * Claim a row for one attempt: only one cron run wins it. The attempt is counted before
	 * the request is made (intent first).
	 *
	 * @param int $id    The row.
	 * @param int $lease Seconds the claim holds.
	 * @return object|null The row when claimed.
	 */
	public static function claim( int $id, int $lease ): ?object {
		global $wpdb;
		$table = self::table();
		$now   = time();
		$token = wp_generate_password( 32, false );
		// phpcs:ignore WordPress.DB.DirectDatabaseQuery, WordPress.DB.PreparedSQL.InterpolatedNotPrepared
		$won = $wpdb->query( $wpdb->prepare( "UPDATE {$table} SET state = 'sending', claim = %s, lease_until = %d, attempts = attempts + 1 WHERE id = %d AND ((state = 'queued' AND next_attempt_at <= %d) OR (state = 'sending' AND lease_until < %d))", $token, $now + $lease, $id, $now, $now ) );
		if ( 1 !== $won ) {
			return null;
		}
		// phpcs:ignore WordPress.DB.DirectDatabaseQuery, WordPress.DB.PreparedSQL.InterpolatedNotPrepared
		$row = $wpdb->get_row( $wpdb->prepare( "SELECT * FROM {$table} WHERE id = %d AND claim = %s", $id, $token ) );
		return $row ? $row : null;
	}

	/**
	 * Record the result of an attempt (only by the run holding the claim).
	 *
	 * @param object $row    The claimed row.
	 * @param string $state  sent, queued or failed.
	 * @param int    $status The HTTP status, 0 for no answer.
	 * @param string $error  What went wrong, '' when nothing did.
	 * @param array  $fields The field errors of a 422.
	 * @param int    $next   Unix time of the next attempt (queued only).
	 */
	public static function finish( object $row, string $state, int $status, string $error, array $fields = array(), int $next = 0 ): void {
		global $wpdb;
		// phpcs:ignore WordPress.DB.DirectDatabaseQuery
		$wpdb->update(
			self::table(),
			array(
				'state'           => $state,
				'last_status'     => max( 0, min( 999, $status ) ),
				'last_error'      => mb_substr( $error, 0, self::ERROR_CHARS ),
				'field_errors'    => $fields ? (string) wp_json_encode( array_slice( $fields, 0, self::FIELD_ERRORS ) ) : '',
				'next_attempt_at' => $next ? $next : (int) $row->next_attempt_at,
				'sent_at'         => 'sent' === $state ? time() : 0,
				'lease_until'     => 0,
				'claim'           => '',
			),
			array(
				'id'    => (int) $row->id,
				'claim' => (string) $row->claim,
			),
			array( '%s', '%d', '%s', '%s', '%d', '%d', '%d', '%s' ),
			array( '%d', '%s' )
		);
		if ( 'queued' !== $state ) {
			self::prune( (int) $row->post_id );
		}
	}

	/**
	 * Keep a post's history bounded: its newest finished rows only.
	 *
	 * @param int $post_id The post.
	 */
	public static function prune( int $post_id ): void {
		global $wpdb;
		$table = self::table();
		// phpcs:ignore WordPress.DB.DirectDatabaseQuery, WordPress.DB.PreparedSQL.InterpolatedNotPrepared
		$keep = $wpdb->get_var( $wpdb->prepare( "SELECT id FROM {$table} WHERE post_id = %d ORDER BY id DESC LIMIT 1 OFFSET %d", $post_id, self::KEEP_PER_POST - 1 ) );
		if ( null !== $keep ) {
			// phpcs:ignore WordPress.DB.DirectDatabaseQuery, WordPress.DB.PreparedSQL.InterpolatedNotPrepared
			$wpdb->query( $wpdb->prepare( "DELETE FROM {$table} WHERE post_id = %d AND id < %d AND state IN ('sent', 'failed', 'superseded')", $post_id, (int) $keep ) );
		}
	}
}
