<?php
/**
 * Where the plugin's settings come from: a constant in wp-config.php wins over the option
 * saved on the settings page.
 *
 * @package Syndicate
 */

defined( 'ABSPATH' ) || exit;

/**
 * The service URL, the webhook secret and the optional operator token.
 */
final class Syndicate_Config {

	/**
	 * The settings: option name => constant name.
	 */
	const SETTINGS = array(
		'syndicate_url'            => 'SYNDICATE_URL',
		'syndicate_webhook_secret' => 'SYNDICATE_WEBHOOK_SECRET',
		'syndicate_admin_token'    => 'SYNDICATE_ADMIN_TOKEN',
	);

	/**
	 * A setting: the constant if it is defined, else the option.
	 *
	 * @param string $option Option name (a key of SETTINGS).
	 * @return string The value, '' when unset.
	 */
	public static function get( string $option ): string {
		$constant = self::SETTINGS[ $option ];
		if ( defined( $constant ) ) {
			return trim( (string) constant( $constant ) );
		}
		return trim( (string) get_option( $option, '' ) );
	}

	/**
	 * Whether a constant sets this setting (the settings page then cannot change it).
	 *
	 * @param string $option Option name.
	 * @return bool
	 */
	public static function from_constant( string $option ): bool {
		return defined( self::SETTINGS[ $option ] );
	}

	/**
	 * The service's base URL without a trailing slash, or '' when unset or unusable.
	 *
	 * @return string
	 */
	public static function service_url(): string {
		$url = self::normalize_url( self::get( 'syndicate_url' ) );
		return is_wp_error( $url ) ? '' : $url;
	}

	/**
	 * The HMAC key of the webhook secret (raw bytes), or '' when unset or malformed.
	 *
	 * @return string
	 */
	public static function signing_key(): string {
		$key = self::parse_secret( self::get( 'syndicate_webhook_secret' ) );
		return is_wp_error( $key ) ? '' : $key;
	}

	/**
	 * Whether the plugin can send: a usable URL and secret.
	 *
	 * @return bool
	 */
	public static function ready(): bool {
		return '' !== self::service_url() && '' !== self::signing_key();
	}

	/**
	 * Check a service URL: http(s), a host, no user name or password, no query or fragment.
	 *
	 * @param string $url The URL as typed.
	 * @return string|WP_Error The URL without a trailing slash, or what is wrong with it.
	 */
	public static function normalize_url( string $url ) {
		$url = trim( $url );
		if ( '' === $url ) {
			return new WP_Error( 'syndicate_url', __( 'The service URL is empty.', 'syndicate' ) );
		}
		if ( strlen( $url ) > 2048 || preg_match( '/[\s\\\\\x00-\x1f\x7f]/', $url ) ) {
			return new WP_Error( 'syndicate_url', __( 'The service URL must not contain spaces, backslashes or control characters.', 'syndicate' ) );
		}
		$parts = wp_parse_url( $url );
		if ( ! is_array( $parts ) || empty( $parts['host'] ) || ! in_array( strtolower( $parts['scheme'] ?? '' ), array( 'http', 'https' ), true ) ) {
			return new WP_Error( 'syndicate_url', __( 'The service URL must be an http or https URL with a host, e.g. https://feeds.example.org.', 'syndicate' ) );
		}
		if ( isset( $parts['user'] ) || isset( $parts['pass'] ) || isset( $parts['query'] ) || isset( $parts['fragment'] ) ) {
			return new WP_Error( 'syndicate_url', __( 'The service URL must not contain a user name, password, query or fragment.', 'syndicate' ) );
		}
		return untrailingslashit( $url );
	}

	/**
	 * Check a Standard Webhooks secret (`whsec_` + base64 of 24 to 64 bytes).
	 *
	 * @param string $secret The secret as typed.
	 * @return string|WP_Error The key bytes, or what is wrong with it.
	 */
	public static function parse_secret( string $secret ) {
		$secret = trim( $secret );
		if ( str_starts_with( $secret, 'whsec_' ) ) {
			$secret = substr( $secret, 6 );
		}
		// phpcs:ignore WordPress.PHP.DiscouragedPHPFunctions.obfuscation_base64_decode -- the secret's format.
		$key = base64_decode( $secret, true );
		if ( '' === $secret || false === $key || strlen( $key ) < 16 || strlen( $key ) > 64 ) {
			return new WP_Error( 'syndicate_secret', __( 'The webhook secret must be the service\'s SYNDICATE_WEBHOOK_SECRET: whsec_ followed by base64.', 'syndicate' ) );
		}
		return $key;
	}

	/**
	 * A secret shown without giving it away: its last four characters.
	 *
	 * @param string $secret The secret.
	 * @return string
	 */
	public static function masked( string $secret ): string {
		if ( '' === $secret ) {
			return '';
		}
		/* translators: %s: the last four characters of a secret. */
		return sprintf( __( 'set, ending in …%s', 'syndicate' ), substr( $secret, -4 ) );
	}
}
