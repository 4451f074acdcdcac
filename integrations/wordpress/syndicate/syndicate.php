<?php
/**
 * Plugin Name:       Syndicate
 * Plugin URI:        https://github.com/syndicate/syndicate
 * Description:       Sends your posts to a syndicate service (feeds and social sharing) as signed events, queued in WordPress and delivered by WP-Cron.
 * Version:           0.1.0
 * Requires at least: 6.1
 * Requires PHP:      8.1
 * Author:            The syndicate authors
 * License:           GPL-2.0-or-later
 * License URI:       https://www.gnu.org/licenses/gpl-2.0.html
 * Text Domain:       syndicate
 *
 * @package Syndicate
 */

defined( 'ABSPATH' ) || exit;

define( 'SYNDICATE_PLUGIN_VERSION', '0.1.0' );
define( 'SYNDICATE_PLUGIN_FILE', __FILE__ );

require_once __DIR__ . '/includes/class-syndicate-config.php';
require_once __DIR__ . '/includes/class-syndicate-queue.php';
require_once __DIR__ . '/includes/class-syndicate-article.php';
require_once __DIR__ . '/includes/class-syndicate-hooks.php';
require_once __DIR__ . '/includes/class-syndicate-sender.php';
require_once __DIR__ . '/includes/class-syndicate-status.php';

if ( is_admin() ) {
	require_once __DIR__ . '/includes/class-syndicate-settings.php';
	require_once __DIR__ . '/includes/class-syndicate-meta-box.php';
	Syndicate_Settings::register();
	Syndicate_Meta_Box::register();
}

register_activation_hook( __FILE__, array( 'Syndicate_Queue', 'activate' ) );
register_deactivation_hook( __FILE__, array( 'Syndicate_Sender', 'deactivate' ) );

Syndicate_Queue::register();
Syndicate_Hooks::register();
Syndicate_Sender::register();
