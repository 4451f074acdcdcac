<?php
/**
 * Settings → Syndicate: the service URL, the webhook secret and the operator token. Secrets are
 * options that are not autoloaded, never printed back (only their last four characters), and a
 * field left empty keeps the saved secret. A constant in wp-config.php wins over each option.
 *
 * @package Syndicate
 */

defined( 'ABSPATH' ) || exit;

/**
 * The settings page.
 */
final class Syndicate_Settings {

	const PAGE = 'syndicate';

	/**
	 * Hooks.
	 */
	public static function register(): void {
		add_action( 'admin_init', array( __CLASS__, 'settings' ) );
		add_action( 'admin_menu', array( __CLASS__, 'menu' ) );
	}

	/**
	 * The options and their checks.
	 */
	public static function settings(): void {
		register_setting(
			self::PAGE,
			'syndicate_url',
			array(
				'type'              => 'string',
				'sanitize_callback' => array( __CLASS__, 'sanitize_url' ),
				'default'           => '',
			)
		);
		foreach ( array( 'syndicate_webhook_secret', 'syndicate_admin_token' ) as $option ) {
			register_setting(
				self::PAGE,
				$option,
				array(
					'type'              => 'string',
					'sanitize_callback' => static function ( $value ) use ( $option ) {
						return Syndicate_Settings::sanitize_secret( $option, $value );
					},
					'default'           => '',
				)
			);
		}
		add_settings_section( 'syndicate_service', __( 'Service', 'syndicate' ), '__return_false', self::PAGE );
		add_settings_field( 'syndicate_url', __( 'Service URL', 'syndicate' ), array( __CLASS__, 'url_field' ), self::PAGE, 'syndicate_service', array( 'label_for' => 'syndicate_url' ) );
		add_settings_field( 'syndicate_webhook_secret', __( 'Webhook secret', 'syndicate' ), array( __CLASS__, 'secret_field' ), self::PAGE, 'syndicate_service', array( 'label_for' => 'syndicate_webhook_secret' ) );
		add_settings_field( 'syndicate_admin_token', __( 'Operator token (optional)', 'syndicate' ), array( __CLASS__, 'secret_field' ), self::PAGE, 'syndicate_service', array( 'label_for' => 'syndicate_admin_token' ) );
	}

	/**
	 * The menu entry.
	 */
	public static function menu(): void {
		add_options_page( __( 'Syndicate', 'syndicate' ), __( 'Syndicate', 'syndicate' ), 'manage_options', self::PAGE, array( __CLASS__, 'page' ) );
	}

	/**
	 * Check the service URL; a bad one keeps the saved one.
	 *
	 * @param mixed $value As submitted.
	 * @return string
	 */
	public static function sanitize_url( $value ): string {
		$url = Syndicate_Config::normalize_url( is_string( $value ) ? wp_unslash( $value ) : '' );
		if ( is_wp_error( $url ) ) {
			if ( '' !== trim( (string) $value ) ) {
				add_settings_error( 'syndicate_url', 'syndicate_url', $url->get_error_message() );
				return (string) get_option( 'syndicate_url', '' );
			}
			return '';
		}
		return $url;
	}

	/**
	 * Check a secret; empty keeps the saved one, a malformed webhook secret is refused.
	 *
	 * @param string $option The option.
	 * @param mixed  $value  As submitted.
	 * @return string
	 */
	public static function sanitize_secret( string $option, $value ): string {
		$saved = (string) get_option( $option, '' );
		$value = is_string( $value ) ? trim( wp_unslash( $value ) ) : '';
		if ( '' === $value ) {
			return $saved;
		}
		if ( strlen( $value ) > 512 || preg_match( '/[\s\x00-\x1f\x7f]/', $value ) ) {
			add_settings_error( $option, $option, __( 'A secret must be one line without spaces.', 'syndicate' ) );
			return $saved;
		}
		if ( 'syndicate_webhook_secret' === $option ) {
			$key = Syndicate_Config::parse_secret( $value );
			if ( is_wp_error( $key ) ) {
				add_settings_error( $option, $option, $key->get_error_message() );
				return $saved;
			}
		}
		return $value;
	}

	/**
	 * The URL field.
	 */
	public static function url_field(): void {
		$fixed = Syndicate_Config::from_constant( 'syndicate_url' );
		printf(
			'<input type="url" class="regular-text code" id="syndicate_url" name="syndicate_url" value="%s" placeholder="https://feeds.example.org"%s>',
			esc_attr( Syndicate_Config::get( 'syndicate_url' ) ),
			disabled( $fixed, true, false )
		);
		if ( $fixed ) {
			echo '<p class="description">' . esc_html__( 'Set by SYNDICATE_URL in wp-config.php.', 'syndicate' ) . '</p>';
		}
	}

	/**
	 * A secret field: empty, with what is saved described but never shown.
	 *
	 * @param array $args The field's arguments.
	 */
	public static function secret_field( array $args ): void {
		$option = (string) $args['label_for'];
		$fixed  = Syndicate_Config::from_constant( $option );
		$state  = Syndicate_Config::masked( Syndicate_Config::get( $option ) );
		printf(
			'<input type="password" class="regular-text code" id="%1$s" name="%1$s" value="" autocomplete="new-password" placeholder="%2$s"%3$s>',
			esc_attr( $option ),
			esc_attr( '' === $state ? __( 'not set', 'syndicate' ) : $state ),
			disabled( $fixed, true, false )
		);
		if ( $fixed ) {
			/* translators: %s: a constant's name. */
			echo '<p class="description">' . esc_html( sprintf( __( 'Set by %s in wp-config.php.', 'syndicate' ), Syndicate_Config::SETTINGS[ $option ] ) ) . '</p>';
		} elseif ( 'syndicate_admin_token' === $option ) {
			echo '<p class="description">' . esc_html__( 'The service\'s SYNDICATE_ADMIN_TOKEN: lets the post screen show the article\'s feeds and share states. Leave empty to keep the saved value.', 'syndicate' ) . '</p>';
		} else {
			echo '<p class="description">' . esc_html__( 'The service\'s SYNDICATE_WEBHOOK_SECRET (whsec_…). Leave empty to keep the saved value.', 'syndicate' ) . '</p>';
		}
	}

	/**
	 * The page.
	 */
	public static function page(): void {
		if ( ! current_user_can( 'manage_options' ) ) {
			return;
		}
		echo '<div class="wrap"><h1>' . esc_html__( 'Syndicate', 'syndicate' ) . '</h1>';
		if ( defined( 'DISABLE_WP_CRON' ) && DISABLE_WP_CRON ) {
			echo '<p>' . esc_html__( 'WP-Cron is run by a system cron here: events go out as often as it runs.', 'syndicate' ) . '</p>';
		} else {
			echo '<div class="notice notice-warning inline"><p>' . esc_html__( 'Events are sent by WP-Cron, which runs only when the site has visitors. Run it from a system cron every minute (see the plugin\'s readme).', 'syndicate' ) . '</p></div>';
		}
		echo '<form method="post" action="options.php">';
		settings_fields( self::PAGE );
		do_settings_sections( self::PAGE );
		submit_button();
		echo '</form></div>';
	}
}
