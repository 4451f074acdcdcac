<?php
/**
 * When a post changes, which event it makes. Runs in the editor's request: it only stores the
 * event and schedules WP-Cron; nothing is sent here.
 *
 * @package Syndicate
 */

defined( 'ABSPATH' ) || exit;

/**
 * `wp_after_insert_post` (the post, its terms and meta all saved; old and new state both known),
 * `before_delete_post` (a permanent delete) and a new `enclosure` on a live post.
 */
final class Syndicate_Hooks {

	/**
	 * Seconds an event made during a REST request waits before it is sent: the block editor
	 * saves the post's meta boxes in a second request right after, and the newest state is the
	 * one worth sending.
	 */
	const REST_HOLD = 10;

	/**
	 * Hooks.
	 */
	public static function register(): void {
		add_action( 'wp_after_insert_post', array( __CLASS__, 'after_insert' ), 10, 4 );
		add_action( 'before_delete_post', array( __CLASS__, 'before_delete' ), 10, 2 );
		add_action( 'added_post_meta', array( __CLASS__, 'added_meta' ), 10, 3 );
	}

	/**
	 * The post types sent (filter `syndicate_post_types`).
	 *
	 * @return array<string>
	 */
	public static function post_types(): array {
		return (array) apply_filters( 'syndicate_post_types', array( 'post' ) );
	}

	/**
	 * Whether this change must send nothing: another post type, a revision or autosave, an
	 * autosave request, an import.
	 *
	 * @param WP_Post $post The post.
	 * @return bool
	 */
	public static function ignored( WP_Post $post ): bool {
		return ! in_array( $post->post_type, self::post_types(), true )
			|| wp_is_post_revision( $post )
			|| wp_is_post_autosave( $post )
			|| ( defined( 'DOING_AUTOSAVE' ) && DOING_AUTOSAVE )
			|| ( defined( 'WP_IMPORTING' ) && WP_IMPORTING );
	}

	/**
	 * A post was saved.
	 *
	 * @param int          $post_id     The post.
	 * @param WP_Post      $post        The post as saved.
	 * @param bool         $update      Whether it existed.
	 * @param WP_Post|null $post_before The post before, null when new.
	 */
	public static function after_insert( $post_id, $post, $update, $post_before ): void {
		if ( ! $post instanceof WP_Post || self::ignored( $post ) ) {
			return;
		}
		self::changed( $post, Syndicate_Article::is_live( $post_before instanceof WP_Post ? $post_before : null ) );
	}

	/**
	 * A post is about to be deleted for good: it leaves the feeds if it was in them.
	 *
	 * @param int          $post_id The post.
	 * @param WP_Post|null $post    The post.
	 */
	public static function before_delete( $post_id, $post = null ): void {
		$post = $post instanceof WP_Post ? $post : get_post( (int) $post_id );
		if ( ! $post instanceof WP_Post || self::ignored( $post ) ) {
			return;
		}
		self::queue( $post, 'article.unpublished', self::was_live( $post, Syndicate_Article::is_live( $post ) ) );
	}

	/**
	 * WordPress found an audio enclosure in a live post (`do_enclose`, run by WP-Cron after the
	 * publish). Meta added while a post is being saved is in that save's own event.
	 *
	 * @param int    $meta_id  The meta row.
	 * @param int    $post_id  The post.
	 * @param string $meta_key The key.
	 */
	public static function added_meta( $meta_id, $post_id, $meta_key ): void {
		if ( 'enclosure' !== $meta_key || ! wp_doing_cron() ) {
			return;
		}
		$post = get_post( (int) $post_id );
		if ( $post instanceof WP_Post && ! self::ignored( $post ) && Syndicate_Article::is_live( $post ) ) {
			self::changed( $post, true );
		}
	}

	/**
	 * What the service was last told of this post: live or not. A post the plugin never sent
	 * is judged by its state before this change.
	 *
	 * @param WP_Post $post   The post.
	 * @param bool    $before Whether it was live before this change.
	 * @return bool
	 */
	private static function was_live( WP_Post $post, bool $before ): bool {
		$told = (string) get_post_meta( $post->ID, '_syndicate_live', true );
		return '' === $told ? $before : '1' === $told;
	}

	/**
	 * Queue the event this change makes, if any.
	 *
	 * @param WP_Post $post   The post as saved.
	 * @param bool    $before Whether it was live before.
	 */
	private static function changed( WP_Post $post, bool $before ): void {
		$was = self::was_live( $post, $before );
		if ( Syndicate_Article::is_live( $post ) ) {
			self::queue( $post, $was ? 'article.updated' : 'article.published', true );
		} else {
			self::queue( $post, 'article.unpublished', $was );
		}
	}

	/**
	 * Build and store an event, then have WP-Cron send it.
	 *
	 * @param WP_Post $post   The post.
	 * @param string  $type   The event type.
	 * @param bool    $needed False when there is nothing to tell (an unpublish of a post the
	 *                        service never had).
	 */
	private static function queue( WP_Post $post, string $type, bool $needed ): void {
		if ( ! $needed ) {
			return;
		}
		$live    = 'article.unpublished' !== $type;
		$article = $live ? Syndicate_Article::build( $post ) : array( 'id' => Syndicate_Article::id( $post->ID ) );
		$same    = $article;
		unset( $same['updated_at'] );
		$fingerprint = hash( 'sha256', $type . "\n" . wp_json_encode( $same ) );
		$latest      = Syndicate_Queue::latest( $post->ID );
		if ( $latest && $latest->fingerprint === $fingerprint && in_array( $latest->state, array( 'queued', 'sending', 'sent' ), true ) ) {
			return; // This state is on its way already (a second save of the same content).
		}
		$version            = self::next_version( $post->ID );
		$article['version'] = $version;
		$webhook_id         = sprintf( '%s-%s-v%d', $article['id'], substr( $type, 8 ), $version );
		$body               = wp_json_encode(
			array(
				'id'          => $webhook_id,
				'type'        => $type,
				'occurred_at' => gmdate( 'Y-m-d\TH:i:s\Z' ),
				'article'     => $article,
			),
			JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE
		);
		if ( false === $body ) {
			return;
		}
		$hold = defined( 'REST_REQUEST' ) && REST_REQUEST ? (int) apply_filters( 'syndicate_rest_hold', self::REST_HOLD ) : 0;
		$row  = Syndicate_Queue::add( $post->ID, $type, $version, $fingerprint, $webhook_id, $body, time() + $hold );
		if ( false === $row ) {
			return;
		}
		update_post_meta( $post->ID, '_syndicate_version', $version );
		update_post_meta( $post->ID, '_syndicate_live', $live ? '1' : '0' );
		Syndicate_Sender::schedule( time() + $hold, $row );
	}

	/**
	 * The next version of a post: the time of this change in microseconds, and always more than
	 * the last version sent (a clock set back, two saves in one microsecond).
	 *
	 * @param int $post_id The post.
	 * @return int
	 */
	private static function next_version( int $post_id ): int {
		$last = (int) get_post_meta( $post_id, '_syndicate_version', true );
		return max( $last + 1, (int) floor( microtime( true ) * 1000000 ) );
	}
}
