<?php
/**
 * The post screen's Syndicate box: the share message and networks of the post, and its
 * delivery status (the plugin's queue; the service's feeds and share states with the operator
 * token). A refused event (422) is also an admin notice naming the fields. And a Credit field
 * on images.
 *
 * @package Syndicate
 */

defined( 'ABSPATH' ) || exit;

/**
 * The meta box, its save, the notice and the image credit field.
 */
final class Syndicate_Meta_Box {

	const NONCE = 'syndicate_meta_box';

	/**
	 * Hooks.
	 */
	public static function register(): void {
		add_action( 'add_meta_boxes', array( __CLASS__, 'add' ) );
		add_action( 'save_post', array( __CLASS__, 'save' ), 10, 2 );
		add_action( 'admin_notices', array( __CLASS__, 'notice' ) );
		add_filter( 'attachment_fields_to_edit', array( __CLASS__, 'credit_field' ), 10, 2 );
		add_filter( 'attachment_fields_to_save', array( __CLASS__, 'save_credit' ), 10, 2 );
	}

	/**
	 * The box on the sent post types.
	 */
	public static function add(): void {
		foreach ( Syndicate_Hooks::post_types() as $type ) {
			add_meta_box( 'syndicate', __( 'Syndicate', 'syndicate' ), array( __CLASS__, 'render' ), $type, 'side' );
		}
	}

	/**
	 * The box.
	 *
	 * @param WP_Post $post The post.
	 */
	public static function render( WP_Post $post ): void {
		wp_nonce_field( self::NONCE, self::NONCE );
		$message = (string) get_post_meta( $post->ID, '_syndicate_share_message', true );
		$chosen  = 'chosen' === get_post_meta( $post->ID, '_syndicate_share_mode', true );
		$picked  = (array) get_post_meta( $post->ID, '_syndicate_share_networks', true );
		echo '<p><label for="syndicate_share_message">' . esc_html__( 'Share message', 'syndicate' ) . '</label>';
		printf(
			'<textarea id="syndicate_share_message" name="syndicate_share_message" rows="3" maxlength="%d" class="widefat">%s</textarea></p>',
			(int) Syndicate_Article::MAX_MESSAGE,
			esc_textarea( $message )
		);
		echo '<fieldset><legend>' . esc_html__( 'Share on', 'syndicate' ) . '</legend>';
		printf( '<label><input type="radio" name="syndicate_share_mode" value="all"%s> %s</label><br>', checked( ! $chosen, true, false ), esc_html__( 'every network the service has', 'syndicate' ) );
		printf( '<label><input type="radio" name="syndicate_share_mode" value="chosen"%s> %s</label><br>', checked( $chosen, true, false ), esc_html__( 'only these (none: not shared):', 'syndicate' ) );
		foreach ( Syndicate_Article::NETWORKS as $network ) {
			printf(
				'<label style="margin-left:1.5em"><input type="checkbox" name="syndicate_share_networks[]" value="%1$s"%2$s> %1$s</label><br>',
				esc_attr( $network ),
				checked( in_array( $network, $picked, true ), true, false )
			);
		}
		echo '</fieldset>';
		self::render_status( Syndicate_Status::for_post( $post->ID ) );
	}

	/**
	 * The delivery status part of the box.
	 *
	 * @param array $status Syndicate_Status::for_post().
	 */
	public static function render_status( array $status ): void {
		echo '<h4>' . esc_html__( 'Delivery', 'syndicate' ) . ' <code>' . esc_html( $status['article_id'] ) . '</code></h4>';
		if ( ! $status['configured'] ) {
			echo '<p>' . esc_html__( 'Not configured: set the service URL and webhook secret (Settings → Syndicate). Events wait in the queue.', 'syndicate' ) . '</p>';
		}
		echo '<ul class="syndicate-events">';
		foreach ( $status['events'] as $event ) {
			$line = sprintf( '%s v%d: %s', $event['type'], $event['version'], $event['state'] );
			if ( $event['attempts'] > 1 || ( $event['last_status'] && 'sent' !== $event['state'] ) ) {
				/* translators: 1: attempts, 2: last HTTP status. */
				$line .= sprintf( __( ' (%1$d attempts, last answer %2$d)', 'syndicate' ), $event['attempts'], $event['last_status'] );
			}
			if ( $event['next_attempt'] ) {
				/* translators: %s: a date and time. */
				$line .= sprintf( __( ', next try %s', 'syndicate' ), wp_date( 'Y-m-d H:i:s', $event['next_attempt'] ) );
			}
			echo '<li data-state="' . esc_attr( $event['state'] ) . '">' . esc_html( $line );
			if ( '' !== $event['last_error'] && 'sent' !== $event['state'] ) {
				echo '<br><em>' . esc_html( $event['last_error'] ) . '</em>';
			}
			self::render_fields( $event['field_errors'] );
			echo '</li>';
		}
		echo '</ul>';
		self::render_service( $status['service'] );
	}

	/**
	 * A 422's fields.
	 *
	 * @param array $fields Each `{field, message}`.
	 */
	private static function render_fields( array $fields ): void {
		if ( ! $fields ) {
			return;
		}
		echo '<ul class="syndicate-field-errors">';
		foreach ( $fields as $error ) {
			echo '<li><code>' . esc_html( (string) ( $error['field'] ?? '' ) ) . '</code> ' . esc_html( (string) ( $error['message'] ?? '' ) ) . '</li>';
		}
		echo '</ul>';
	}

	/**
	 * The service's view: article state, feeds, share states.
	 *
	 * @param array|null $service Syndicate_Status::service().
	 */
	private static function render_service( ?array $service ): void {
		if ( null === $service ) {
			echo '<p class="description">' . esc_html__( 'Set the operator token to see the service\'s feeds and share states here.', 'syndicate' ) . '</p>';
			return;
		}
		if ( isset( $service['error'] ) ) {
			echo '<p>' . esc_html( $service['error'] ) . '</p>';
			return;
		}
		/* translators: %s: the article's state at the service. */
		echo '<p class="syndicate-service-state">' . esc_html( sprintf( __( 'At the service: %s', 'syndicate' ), $service['state'] ) ) . '</p>';
		if ( ! empty( $service['feeds'] ) ) {
			echo '<p>' . esc_html__( 'Feeds:', 'syndicate' ) . ' ';
			$links = array();
			foreach ( $service['feeds'] as $feed ) {
				$links[] = '<a href="' . esc_url( $feed['atom'] ) . '">' . esc_html( $feed['key'] ) . '</a>';
			}
			echo implode( ', ', $links ) . '</p>'; // phpcs:ignore WordPress.Security.EscapeOutput.OutputNotEscaped -- escaped above.
		}
		echo '<ul class="syndicate-shares">';
		foreach ( (array) ( $service['shares'] ?? array() ) as $network => $share ) {
			$text = $network . ': ' . $share['state'] . ( '' !== $share['reason'] ? ' (' . $share['reason'] . ')' : '' );
			echo '<li data-network="' . esc_attr( $network ) . '" data-state="' . esc_attr( $share['state'] ) . '">';
			echo '' !== $share['remote_url'] ? '<a href="' . esc_url( $share['remote_url'] ) . '">' . esc_html( $text ) . '</a>' : esc_html( $text );
			if ( '' !== $share['last_error'] ) {
				echo '<br><em>' . esc_html( $share['last_error'] ) . '</em>';
			}
			echo '</li>';
		}
		echo '</ul>';
	}

	/**
	 * Save the box (classic editor, or the block editor's meta box request).
	 *
	 * @param int     $post_id The post.
	 * @param WP_Post $post    The post.
	 */
	public static function save( $post_id, $post ): void {
		if ( ! isset( $_POST[ self::NONCE ] ) || ! wp_verify_nonce( sanitize_text_field( wp_unslash( $_POST[ self::NONCE ] ) ), self::NONCE ) ) {
			return;
		}
		if ( ! $post instanceof WP_Post || wp_is_post_revision( $post ) || ! current_user_can( 'edit_post', $post_id ) ) {
			return;
		}
		$message = isset( $_POST['syndicate_share_message'] ) ? sanitize_textarea_field( wp_unslash( $_POST['syndicate_share_message'] ) ) : '';
		$message = mb_substr( trim( $message ), 0, Syndicate_Article::MAX_MESSAGE );
		$mode    = isset( $_POST['syndicate_share_mode'] ) && 'chosen' === $_POST['syndicate_share_mode'] ? 'chosen' : 'all';
		$picked  = isset( $_POST['syndicate_share_networks'] ) ? array_map( 'sanitize_key', (array) wp_unslash( $_POST['syndicate_share_networks'] ) ) : array();
		update_post_meta( $post_id, '_syndicate_share_message', $message );
		update_post_meta( $post_id, '_syndicate_share_mode', $mode );
		update_post_meta( $post_id, '_syndicate_share_networks', array_values( array_intersect( Syndicate_Article::NETWORKS, $picked ) ) );
	}

	/**
	 * On a post's screen: a notice when its newest event was refused.
	 */
	public static function notice(): void {
		$screen = function_exists( 'get_current_screen' ) ? get_current_screen() : null;
		$post   = get_post();
		if ( ! $screen || 'post' !== $screen->base || ! $post instanceof WP_Post || ! current_user_can( 'edit_post', $post->ID ) ) {
			return;
		}
		$latest = Syndicate_Queue::latest( $post->ID );
		if ( ! $latest || 'failed' !== $latest->state ) {
			return;
		}
		$fields = json_decode( (string) $latest->field_errors, true );
		echo '<div class="notice notice-error"><p>' . esc_html__( 'Syndicate could not send this post:', 'syndicate' ) . ' ' . esc_html( (string) $latest->last_error ) . '</p>';
		self::render_fields( is_array( $fields ) ? $fields : array() );
		echo '</div>';
	}

	/**
	 * The Credit field of an image.
	 *
	 * @param array   $fields The fields.
	 * @param WP_Post $post   The attachment.
	 * @return array
	 */
	public static function credit_field( $fields, $post ): array {
		$fields = (array) $fields;
		if ( $post instanceof WP_Post && wp_attachment_is_image( $post ) ) {
			$fields['syndicate_credit'] = array(
				'label' => __( 'Credit', 'syndicate' ),
				'input' => 'text',
				'value' => (string) get_post_meta( $post->ID, '_syndicate_credit', true ),
				'helps' => __( 'Shown with the image in feeds (e.g. Photo: Agency).', 'syndicate' ),
			);
		}
		return $fields;
	}

	/**
	 * Save the Credit field.
	 *
	 * @param array $post       The attachment's data.
	 * @param array $attachment The submitted fields.
	 * @return array
	 */
	public static function save_credit( $post, $attachment ): array {
		if ( is_array( $attachment ) && isset( $attachment['syndicate_credit'], $post['ID'] ) && current_user_can( 'edit_post', (int) $post['ID'] ) ) {
			$credit = mb_substr( sanitize_text_field( (string) $attachment['syndicate_credit'] ), 0, Syndicate_Article::MAX_CREDIT );
			update_post_meta( (int) $post['ID'], '_syndicate_credit', $credit );
		}
		return (array) $post;
	}
}
