<?php
/**
 * What the editor sees of a post's delivery: the plugin's own queue, and (with the operator
 * token) the service's `GET /articles/{id}`: the article's state, feeds and share states.
 *
 * @package Syndicate
 */

defined( 'ABSPATH' ) || exit;

/**
 * A post's delivery status.
 */
final class Syndicate_Status {

	/**
	 * Seconds the service's answer is kept, and the most a page load waits for it.
	 */
	const CACHE   = 30;
	const TIMEOUT = 3;

	/**
	 * Everything the status box shows.
	 *
	 * @param int $post_id The post.
	 * @return array<string, mixed>
	 */
	public static function for_post( int $post_id ): array {
		$events = array();
		foreach ( Syndicate_Queue::for_post( $post_id ) as $row ) {
			$fields   = json_decode( (string) $row->field_errors, true );
			$events[] = array(
				'webhook_id'   => (string) $row->webhook_id,
				'type'         => (string) $row->event_type,
				'version'      => (int) $row->version,
				'state'        => (string) $row->state,
				'attempts'     => (int) $row->attempts,
				'last_status'  => (int) $row->last_status,
				'last_error'   => (string) $row->last_error,
				'field_errors' => is_array( $fields ) ? $fields : array(),
				'created_at'   => (int) $row->created_at,
				'next_attempt' => 'queued' === $row->state ? (int) $row->next_attempt_at : 0,
				'sent_at'      => (int) $row->sent_at,
			);
		}
		return array(
			'article_id' => Syndicate_Article::id( $post_id ),
			'configured' => Syndicate_Config::ready(),
			'events'     => $events,
			'service'    => self::service( $post_id ),
		);
	}

	/**
	 * The service's view of the article: null without an operator token, else its answer
	 * (`error` set when it could not be read).
	 *
	 * @param int $post_id The post.
	 * @return array<string, mixed>|null
	 */
	public static function service( int $post_id ): ?array {
		$token = Syndicate_Config::get( 'syndicate_admin_token' );
		$base  = Syndicate_Config::service_url();
		if ( '' === $token || '' === $base ) {
			return null;
		}
		$key    = 'syndicate_status_' . $post_id;
		$cached = get_transient( $key );
		if ( is_array( $cached ) ) {
			return $cached;
		}
		$status = self::fetch( $base, $token, Syndicate_Article::id( $post_id ) );
		set_transient( $key, $status, self::CACHE );
		return $status;
	}

	/**
	 * Forget the cached answer (after an event of the post was sent).
	 *
	 * @param int $post_id The post.
	 */
	public static function forget( int $post_id ): void {
		delete_transient( 'syndicate_status_' . $post_id );
	}

	/**
	 * `GET /articles/{id}`, reduced to what the box shows.
	 *
	 * @param string $base       The service URL.
	 * @param string $token      The operator token.
	 * @param string $article_id The article.
	 * @return array<string, mixed>
	 */
	private static function fetch( string $base, string $token, string $article_id ): array {
		$response = wp_remote_get(
			$base . '/articles/' . rawurlencode( $article_id ),
			array(
				'timeout'     => self::TIMEOUT,
				'redirection' => 0,
				'headers'     => array( 'Authorization' => 'Bearer ' . $token ),
			)
		);
		if ( is_wp_error( $response ) ) {
			return array( 'error' => __( 'The service did not answer.', 'syndicate' ) );
		}
		$code = (int) wp_remote_retrieve_response_code( $response );
		if ( 404 === $code ) {
			return array( 'state' => 'unknown' );
		}
		$doc = json_decode( (string) wp_remote_retrieve_body( $response ), true );
		if ( 200 !== $code || ! is_array( $doc ) ) {
			/* translators: %d: an HTTP status. */
			return array( 'error' => sprintf( __( 'The service answered %d (is the operator token right?).', 'syndicate' ), $code ) );
		}
		$shares = array();
		foreach ( array_slice( (array) ( $doc['shares'] ?? array() ), 0, 20, true ) as $network => $share ) {
			$share = is_array( $share ) ? $share : array();

			$shares[ sanitize_key( (string) $network ) ] = array(
				'state'      => sanitize_text_field( (string) ( $share['state'] ?? '' ) ),
				'reason'     => mb_substr( sanitize_text_field( (string) ( $share['reason'] ?? '' ) ), 0, 300 ),
				'remote_url' => esc_url_raw( (string) ( $share['remote_url'] ?? '' ) ),
				'last_error' => mb_substr( sanitize_text_field( (string) ( $share['last_error'] ?? '' ) ), 0, 300 ),
			);
		}
		$feeds = array();
		foreach ( array_slice( (array) ( $doc['feeds'] ?? array() ), 0, 50 ) as $feed ) {
			if ( is_array( $feed ) && isset( $feed['key'] ) ) {
				$feeds[] = array(
					'key'  => sanitize_text_field( (string) $feed['key'] ),
					'atom' => esc_url_raw( (string) ( $feed['atom'] ?? '' ) ),
				);
			}
		}
		return array(
			'state'              => sanitize_text_field( (string) ( $doc['state'] ?? '' ) ),
			'version'            => isset( $doc['version'] ) ? (int) $doc['version'] : null,
			'first_published_at' => sanitize_text_field( (string) ( $doc['first_published_at'] ?? '' ) ),
			'feeds'              => $feeds,
			'shares'             => $shares,
		);
	}
}
