<?php
/**
 * Uninstall: the queue table, the options and the plugin's post meta go.
 *
 * @package Syndicate
 */

defined( 'WP_UNINSTALL_PLUGIN' ) || exit;

global $wpdb;
$syndicate_table = $wpdb->prefix . 'syndicate_events';
$wpdb->query( "DROP TABLE IF EXISTS {$syndicate_table}" ); // phpcs:ignore WordPress.DB.DirectDatabaseQuery, WordPress.DB.PreparedSQL.InterpolatedNotPrepared
foreach ( array( 'syndicate_url', 'syndicate_webhook_secret', 'syndicate_admin_token', 'syndicate_db_version', 'syndicate_activated_at' ) as $syndicate_option ) {
	delete_option( $syndicate_option );
}
foreach ( array( '_syndicate_version', '_syndicate_live', '_syndicate_share_message', '_syndicate_share_mode', '_syndicate_share_networks', '_syndicate_credit' ) as $syndicate_key ) {
	delete_post_meta_by_key( $syndicate_key );
}
wp_clear_scheduled_hook( 'syndicate_sweep' );
wp_unschedule_hook( 'syndicate_send' );
