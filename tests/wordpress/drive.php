<?php
/**
 * Drives a test WordPress through its own PHP API, one action per process (so constants such as
 * DOING_AUTOSAVE and WP_IMPORTING hold for exactly one action, as in WordPress itself).
 *
 *   php drive.php WP_DIR ACTION 'JSON ARGS'
 *
 * Prints one line of JSON: {"ok": true, "result": ...} or {"ok": false, "error": "..."}.
 */
[$drive_script, $drive_wp_dir, $drive_action, $drive_raw] = $argv + array( '', '', '', '{}' );
$drive_args = json_decode( $drive_raw, true );
if ( ! is_array( $drive_args ) ) {
	$drive_args = array();
}
if ( 'install' === $drive_action ) {
	define( 'WP_INSTALLING', true );
}
if ( 'autosave' === $drive_action ) {
	define( 'DOING_AUTOSAVE', true );
}
if ( 'import' === $drive_action ) {
	define( 'WP_IMPORTING', true );
}
require $drive_wp_dir . '/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/admin.php';

/**
 * The plugin's admin-only classes (the CLI is not is_admin()).
 */
function drive_admin_classes() {
	$dir = WP_PLUGIN_DIR . '/syndicate/includes/';
	if ( ! class_exists( 'Syndicate_Meta_Box' ) ) {
		require_once $dir . 'class-syndicate-meta-box.php';
	}
	if ( ! class_exists( 'Syndicate_Settings' ) ) {
		require_once $dir . 'class-syndicate-settings.php';
	}
}

/**
 * The first administrator.
 */
function drive_admin() {
	$users = get_users( array( 'role' => 'administrator', 'number' => 1 ) );
	wp_set_current_user( $users[0]->ID );
	return $users[0]->ID;
}

/**
 * Fail on a WP_Error.
 *
 * @param mixed $value A result.
 */
function drive_check( $value ) {
	if ( is_wp_error( $value ) ) {
		throw new RuntimeException( $value->get_error_message() );
	}
	return $value;
}

$drive_actions = array(
	'install'      => static function ( $a ) {
		require_once ABSPATH . 'wp-admin/includes/upgrade.php';
		$result = wp_install( 'Test Site', 'admin', 'admin@wp.test', true, '', 'admin-password-123' );
		update_option( 'ping_sites', '' );
		update_option( 'WPLANG', '' );
		return $result['user_id'];
	},
	'activate'     => static function ( $a ) {
		foreach ( $a['options'] as $name => $value ) {
			update_option( $name, $value, false );
		}
		drive_check( activate_plugin( 'syndicate/syndicate.php' ) );
		return get_option( 'active_plugins' );
	},
	'option'       => static function ( $a ) {
		update_option( $a['name'], $a['value'], false );
		return true;
	},
	'autoload'     => static function ( $a ) {
		global $wpdb;
		return $wpdb->get_var( $wpdb->prepare( "SELECT autoload FROM {$wpdb->options} WHERE option_name = %s", $a['name'] ) );
	},
	'category'     => static function ( $a ) {
		$term = drive_check( wp_insert_term( $a['name'], 'category', array( 'parent' => $a['parent'] ?? 0, 'slug' => $a['slug'] ?? '' ) ) );
		return $term['term_id'];
	},
	'user'         => static function ( $a ) {
		return drive_check( wp_insert_user( $a ) );
	},
	'image'        => static function ( $a ) {
		$id = drive_check(
			wp_insert_attachment(
				array(
					'post_mime_type' => 'image/jpeg',
					'post_title'     => $a['title'],
					'post_excerpt'   => $a['caption'],
					'post_content'   => $a['description'] ?? '',
					'post_status'    => 'inherit',
				),
				$a['file'],
				0,
				true
			)
		);
		wp_update_attachment_metadata( $id, array( 'width' => 1200, 'height' => 800, 'file' => $a['file'], 'image_meta' => array( 'credit' => $a['iptc_credit'] ?? '' ) ) );
		if ( isset( $a['credit'] ) ) {
			update_post_meta( $id, '_syndicate_credit', $a['credit'] );
		}
		return $id;
	},
	'insert'       => static function ( $a ) {
		drive_admin();
		return drive_check( wp_insert_post( $a, true ) );
	},
	'update'       => static function ( $a ) {
		drive_admin();
		return drive_check( wp_update_post( $a, true ) );
	},
	'import'       => static function ( $a ) {
		return drive_check( wp_insert_post( $a, true ) );
	},
	'trash'        => static function ( $a ) {
		return (bool) wp_trash_post( $a['id'] );
	},
	'untrash'      => static function ( $a ) {
		return (bool) wp_untrash_post( $a['id'] );
	},
	'delete'       => static function ( $a ) {
		return (bool) wp_delete_post( $a['id'], true );
	},
	'autosave'     => static function ( $a ) {
		drive_admin();
		return drive_check( wp_create_post_autosave( array_merge( array( 'post_ID' => $a['id'], 'post_type' => 'post' ), $a['fields'] ) ) );
	},
	'preview'      => static function ( $a ) {
		drive_admin();
		$_POST = array_merge( array( 'post_ID' => $a['id'], 'post_type' => 'post' ), $a['fields'] );
		return post_preview();
	},
	'revision'     => static function ( $a ) {
		drive_admin();
		return wp_save_post_revision( $a['id'] );
	},
	'meta'         => static function ( $a ) {
		return add_post_meta( $a['id'], $a['key'], $a['value'] );
	},
	'meta_box_save' => static function ( $a ) {
		drive_admin_classes();
		drive_admin();
		$_POST = array_merge( array( 'syndicate_meta_box' => wp_create_nonce( 'syndicate_meta_box' ) ), $a['fields'] );
		add_action( 'save_post', array( 'Syndicate_Meta_Box', 'save' ), 10, 2 ); // as on the post screen.
		return drive_check( wp_update_post( array( 'ID' => $a['id'] ), true ) );
	},
	'status'       => static function ( $a ) {
		drive_admin_classes();
		drive_admin();
		Syndicate_Status::forget( $a['id'] );
		ob_start();
		Syndicate_Meta_Box::render( get_post( $a['id'] ) );
		$box = ob_get_clean();
		$GLOBALS['post'] = get_post( $a['id'] );
		set_current_screen( 'post' );
		ob_start();
		Syndicate_Meta_Box::notice();
		return array(
			'data'   => Syndicate_Status::for_post( $a['id'] ),
			'box'    => $box,
			'notice' => ob_get_clean(),
		);
	},
	'settings_page' => static function ( $a ) {
		drive_admin_classes();
		drive_admin();
		Syndicate_Settings::settings();
		$saved = array();
		foreach ( $a['submit'] ?? array() as $name => $value ) {
			$saved[ $name ] = 'syndicate_url' === $name ? Syndicate_Settings::sanitize_url( $value ) : Syndicate_Settings::sanitize_secret( $name, $value );
		}
		ob_start();
		Syndicate_Settings::page();
		return array(
			'html'   => ob_get_clean(),
			'saved'  => $saved,
			'errors' => wp_list_pluck( get_settings_errors(), 'message' ),
		);
	},
	'article'      => static function ( $a ) {
		return Syndicate_Article::build( get_post( $a['id'] ) );
	},
	'post'         => static function ( $a ) {
		$post = get_post( $a['id'] );
		return array( 'status' => $post->post_status, 'permalink' => get_permalink( $post ), 'blog_id' => get_current_blog_id() );
	},
);

try {
	if ( ! isset( $drive_actions[ $drive_action ] ) ) {
		throw new RuntimeException( "no action $drive_action" );
	}
	echo "\n", wp_json_encode( array( 'ok' => true, 'result' => $drive_actions[ $drive_action ]( $drive_args ) ) ), "\n";
} catch ( Throwable $e ) {
	echo "\n", wp_json_encode( array( 'ok' => false, 'error' => get_class( $e ) . ': ' . $e->getMessage() ) ), "\n";
}
