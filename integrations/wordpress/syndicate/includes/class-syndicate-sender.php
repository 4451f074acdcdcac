<?php
/**
 * Sends the queued events from WP-Cron: signed (Standard Webhooks), one blocking request of at
 * most 10 s each, retried with backoff on no answer, 408, 429 and 5xx; a 422 is kept with the
 * fields it names for the editor to see.
 *
 * @package Syndicate
 */

defined( 'ABSPATH' ) || exit;

/**
 * The `syndicate_send` (one event, then whatever else is due) and `syndicate_sweep` (every
 * minute: whatever is due, should a single event have been lost) cron hooks.
 */
final class Syndicate_Sender {

	const TIMEOUT = 10;
	const LEASE   = 60;

	/**
	 * Events sent per cron run, and the seconds a run may spend, at most.
	 */
	const BATCH  = 25;
	const BUDGET = 25;

	/**
	 * Backoff: the first retry after BASE seconds, doubling, at most CAP; given up after GIVE_UP.
	 */
	const BASE    = 30;
	const CAP     = 3600;
	const GIVE_UP = 3 * DAY_IN_SECONDS;

	/**
	 * Answers after which the same event is tried again (others are final).
	 */
	const RETRY = array( 0, 401, 403, 404, 408, 409, 425, 429 );

	/**
	 * Hooks.
	 */
	public static function register(): void {
		add_filter( 'cron_schedules', array( __CLASS__, 'schedules' ) ); // phpcs:ignore WordPress.WP.CronInterval -- once a minute is the point.
		add_action( 'syndicate_send', array( __CLASS__, 'run' ) );
		add_action( 'syndicate_sweep', array( __CLASS__, 'run' ) );
		add_action( 'init', array( __CLASS__, 'schedule_sweep' ) );
	}

	/**
	 * A once-a-minute schedule for the sweep.
	 *
	 * @param array $schedules The schedules.
	 * @return array
	 */
	public static function schedules( $schedules ): array {
		$schedules['syndicate_minute'] = array(
			'interval' => MINUTE_IN_SECONDS,
			'display'  => __( 'Once a minute (Syndicate)', 'syndicate' ),
		);
		return (array) $schedules;
	}

	/**
	 * The sweep, once (cheap when scheduled already).
	 */
	public static function schedule_sweep(): void {
		if ( ! wp_next_scheduled( 'syndicate_sweep' ) ) {
			wp_schedule_event( time() + MINUTE_IN_SECONDS, 'syndicate_minute', 'syndicate_sweep' );
		}
	}

	/**
	 * Deactivation: no more cron runs (the queue stays for a later activation).
	 */
	public static function deactivate(): void {
		wp_clear_scheduled_hook( 'syndicate_sweep' );
		wp_unschedule_hook( 'syndicate_send' );
	}

	/**
	 * A cron run for one row at $when. The row id makes each single event unique: WordPress
	 * drops a single event identical to one within ten minutes of it.
	 *
	 * @param int    $when Unix time.
	 * @param int    $row  The row.
	 * @param string $tag  Makes a retry of the same row unique too.
	 */
	public static function schedule( int $when, int $row, string $tag = '' ): void {
		wp_schedule_single_event( $when, 'syndicate_send', array( $row, $tag ) );
	}

	/**
	 * Send what is due, within the run's bounds.
	 */
	public static function run(): void {
		if ( ! Syndicate_Config::ready() ) {
			return; // Nothing is lost: the events wait in the queue until the plugin is set up.
		}
		$started = microtime( true );
		$ids     = Syndicate_Queue::due( self::BATCH );
		foreach ( $ids as $id ) {
			if ( microtime( true ) - $started > self::BUDGET ) {
				break;
			}
			$row = Syndicate_Queue::claim( $id, self::LEASE );
			if ( $row ) {
				self::attempt( $row );
			}
		}
		if ( count( $ids ) >= self::BATCH || microtime( true ) - $started > self::BUDGET ) {
			self::schedule( time(), 0, 'more-' . wp_generate_password( 8, false ) );
		}
	}

	/**
	 * Standard Webhooks headers for a body: `v1,` + base64 HMAC-SHA256 of "id.timestamp.body".
	 *
	 * @param string $webhook_id The event id.
	 * @param string $body       The body.
	 * @param string $key        The secret's key bytes.
	 * @param int    $timestamp  Unix seconds.
	 * @return array<string, string>
	 */
	public static function headers( string $webhook_id, string $body, string $key, int $timestamp ): array {
		$mac = hash_hmac( 'sha256', $webhook_id . '.' . $timestamp . '.' . $body, $key, true );
		return array(
			'Content-Type'      => 'application/json',
			'webhook-id'        => $webhook_id,
			'webhook-timestamp' => (string) $timestamp,
			'webhook-signature' => 'v1,' . base64_encode( $mac ), // phpcs:ignore WordPress.PHP.DiscouragedPHPFunctions.obfuscation_base64_encode -- the signature's format.
		);
	}

	/**
	 * One attempt of a claimed row; its result is recorded before anything else happens.
	 *
	 * @param object $row The row.
	 */
	private static function attempt( object $row ): void {
		$response = wp_remote_post(
			Syndicate_Config::service_url() . '/events',
			array(
				'timeout'     => self::TIMEOUT,
				'blocking'    => true,
				'redirection' => 0,
				'user-agent'  => 'syndicate-wordpress/' . SYNDICATE_PLUGIN_VERSION . '; ' . home_url( '/' ),
				'headers'     => self::headers( (string) $row->webhook_id, (string) $row->body, Syndicate_Config::signing_key(), time() ),
				'body'        => (string) $row->body,
			)
		);
		if ( is_wp_error( $response ) ) {
			self::retry_or_fail( $row, 0, sanitize_text_field( $response->get_error_message() ), 0 );
			return;
		}
		$status = (int) wp_remote_retrieve_response_code( $response );
		$answer = json_decode( (string) wp_remote_retrieve_body( $response ), true );
		$answer = is_array( $answer ) ? $answer : array();
		if ( $status >= 200 && $status < 300 ) {
			Syndicate_Queue::finish( $row, 'sent', $status, '' );
			Syndicate_Status::forget( (int) $row->post_id );
		} elseif ( 422 === $status ) {
			Syndicate_Queue::finish( $row, 'failed', $status, __( 'The service refused the event: fields below.', 'syndicate' ), self::field_errors( $answer ) );
		} elseif ( in_array( $status, self::RETRY, true ) || $status >= 500 ) {
			$after = (int) wp_remote_retrieve_header( $response, 'retry-after' );
			self::retry_or_fail( $row, $status, self::describe( $status, $answer ), max( 0, min( self::CAP, $after ) ) );
		} else {
			Syndicate_Queue::finish( $row, 'failed', $status, self::describe( $status, $answer ) );
		}
	}

	/**
	 * Queue the row again after a backoff, or give up once the retry window is over.
	 *
	 * @param object $row    The row.
	 * @param int    $status The answer (0: none).
	 * @param string $error  What went wrong.
	 * @param int    $after  The service's Retry-After in seconds, 0 when none.
	 */
	private static function retry_or_fail( object $row, int $status, string $error, int $after ): void {
		if ( time() - (int) $row->created_at > self::GIVE_UP ) {
			/* translators: %s: the last error. */
			Syndicate_Queue::finish( $row, 'failed', $status, sprintf( __( 'Given up after three days of retries. Last error: %s', 'syndicate' ), $error ) );
			return;
		}
		$base = (int) apply_filters( 'syndicate_retry_base', self::BASE );
		$wait = min( self::CAP, $base * ( 2 ** min( 16, max( 0, (int) $row->attempts - 1 ) ) ) );
		$wait = max( $after, $wait + wp_rand( 0, max( 0, intdiv( $wait, 5 ) ) ) );
		$next = time() + $wait;
		Syndicate_Queue::finish( $row, 'queued', $status, $error, array(), $next );
		self::schedule( $next, (int) $row->id, (string) $row->attempts );
	}

	/**
	 * The field errors of a 422, each `{field, message}`, bounded.
	 *
	 * @param array $answer The decoded answer.
	 * @return array<array<string, string>>
	 */
	private static function field_errors( array $answer ): array {
		$out = array();
		foreach ( array_slice( (array) ( $answer['errors'] ?? array() ), 0, Syndicate_Queue::FIELD_ERRORS ) as $error ) {
			if ( is_array( $error ) ) {
				$out[] = array(
					'field'   => mb_substr( sanitize_text_field( (string) ( $error['field'] ?? '' ) ), 0, 200 ),
					'message' => mb_substr( sanitize_text_field( (string) ( $error['message'] ?? '' ) ), 0, 300 ),
				);
			}
		}
		return $out;
	}

	/**
	 * An answer in words (the service's problem title and detail, bounded).
	 *
	 * @param int   $status The status.
	 * @param array $answer The decoded answer.
	 * @return string
	 */
	private static function describe( int $status, array $answer ): string {
		$text = trim( (string) ( $answer['title'] ?? '' ) . ': ' . (string) ( $answer['detail'] ?? '' ), ': ' );
		$hint = array(
			401 => __( 'check that the webhook secret is the service\'s', 'syndicate' ),
			404 => __( 'check the service URL', 'syndicate' ),
		);
		$text = '' === $text ? ( $hint[ $status ] ?? '' ) : $text . ( isset( $hint[ $status ] ) ? ' (' . $hint[ $status ] . ')' : '' );
		return mb_substr( sanitize_text_field( 'HTTP ' . $status . ( '' === $text ? '' : ' ' . $text ) ), 0, Syndicate_Queue::ERROR_CHARS );
	}
}
