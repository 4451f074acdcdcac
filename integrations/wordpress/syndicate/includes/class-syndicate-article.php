<?php
/**
 * A post as the service's article (contract: event.schema.json), every text and list within
 * the service's limits.
 *
 * @package Syndicate
 */

defined( 'ABSPATH' ) || exit;

/**
 * Builds the `article` of an event from a post.
 */
final class Syndicate_Article {

	/**
	 * The service's limits (feeds/validation.py LIMITS).
	 */
	const MAX_SECTIONS = 10;
	const MAX_TAGS     = 25;
	const MAX_AUTHORS  = 20;
	const MAX_NAME     = 200;
	const MAX_SLUG     = 100;
	const MAX_TITLE    = 1000;
	const MAX_SUMMARY  = 10000;
	const MAX_CAPTION  = 1000;
	const MAX_CREDIT   = 300;
	const MAX_MESSAGE  = 2000;

	/**
	 * The networks a post may be shared to (the schema's `share.networks`).
	 */
	const NETWORKS = array( 'twitter', 'facebook', 'googleplus', 'mastodon', 'bluesky', 'threads', 'linkedin' );

	/**
	 * The article id of a post: `wp-{blog_id}-{post_id}`.
	 *
	 * @param int $post_id The post.
	 * @return string
	 */
	public static function id( int $post_id ): string {
		return 'wp-' . get_current_blog_id() . '-' . $post_id;
	}

	/**
	 * Whether a post is live: published and not password-protected.
	 *
	 * @param WP_Post|null $post The post.
	 * @return bool
	 */
	public static function is_live( ?WP_Post $post ): bool {
		return null !== $post && 'publish' === $post->post_status && '' === (string) $post->post_password;
	}

	/**
	 * The whole article of a live post.
	 *
	 * @param WP_Post $post The post.
	 * @return array<string, mixed>
	 */
	public static function build( WP_Post $post ): array {
		$article = array(
			'id'           => self::id( $post->ID ),
			'url'          => (string) get_permalink( $post ),
			'title'        => self::text( get_the_title( $post ), self::MAX_TITLE ),
			'summary'      => self::text( $post->post_excerpt, self::MAX_SUMMARY ),
			'body_html'    => self::content( $post ),
			'language'     => self::language(),
			'sections'     => self::sections( $post ),
			'tags'         => self::tags( $post ),
			'authors'      => self::authors( $post ),
			'published_at' => (string) get_post_time( 'c', true, $post ),
			'updated_at'   => (string) get_post_modified_time( 'c', true, $post ),
			'image'        => self::image( $post ),
			'audio'        => self::audio( $post ),
			'comments'     => self::comments( $post ),
			'share'        => self::share( $post ),
		);
		$article = array_filter(
			$article,
			static function ( $value ) {
				return '' !== $value && array() !== $value && null !== $value;
			}
		);
		/**
		 * Filters the article sent for a post.
		 *
		 * @param array   $article The article (contract: event.schema.json).
		 * @param WP_Post $post    The post.
		 */
		return (array) apply_filters( 'syndicate_article', $article, $post );
	}

	/**
	 * Plain text: tags removed, entities decoded, whitespace collapsed, at most $limit characters.
	 *
	 * @param string $html  The text, maybe with markup and entities.
	 * @param int    $limit Characters kept.
	 * @return string
	 */
	public static function text( string $html, int $limit ): string {
		$plain = html_entity_decode( wp_strip_all_tags( $html ), ENT_QUOTES | ENT_HTML5, 'UTF-8' );
		$plain = trim( (string) preg_replace( '/\s+/u', ' ', $plain ) );
		return mb_substr( $plain, 0, $limit );
	}

	/**
	 * The content as the site shows it (blocks rendered, shortcodes, paragraphs).
	 *
	 * @param WP_Post $post The post.
	 * @return string
	 */
	private static function content( WP_Post $post ): string {
		global $wp_query;
		$previous = $GLOBALS['post'] ?? null;
		$GLOBALS['post'] = $post; // phpcs:ignore WordPress.WP.GlobalVariablesOverride.Prohibited -- the_content filters read it.
		setup_postdata( $post );
		/** This filter is documented in wp-includes/post-template.php */
		$html = (string) apply_filters( 'the_content', $post->post_content );
		$GLOBALS['post'] = $previous; // phpcs:ignore WordPress.WP.GlobalVariablesOverride.Prohibited
		if ( $previous instanceof WP_Post && $wp_query ) {
			setup_postdata( $previous );
		}
		return trim( $html );
	}

	/**
	 * The site's language as a BCP 47 tag, '' when it is not one.
	 *
	 * @return string
	 */
	private static function language(): string {
		$language = (string) get_bloginfo( 'language' );
		return preg_match( '/^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$/', $language ) ? $language : '';
	}

	/**
	 * A term as `{slug, name}`.
	 *
	 * @param WP_Term $term The term.
	 * @return array<string, string>|null Null when its name has no text.
	 */
	private static function named( WP_Term $term ): ?array {
		$name = self::text( $term->name, self::MAX_NAME );
		if ( '' === $name ) {
			return null;
		}
		return array(
			'slug' => mb_substr( rawurldecode( $term->slug ), 0, self::MAX_SLUG ),
			'name' => $name,
		);
	}

	/**
	 * The section breadcrumb, root first: the post's deepest category and its ancestors. The
	 * default "Uncategorized" is no section.
	 *
	 * @param WP_Post $post The post.
	 * @return array<array<string, string>>
	 */
	private static function sections( WP_Post $post ): array {
		$deepest = null;
		$trail   = array();
		foreach ( get_the_category( $post->ID ) as $category ) {
			if ( 'uncategorized' === $category->slug && (int) get_option( 'default_category' ) === $category->term_id ) {
				continue;
			}
			$ancestors = array_reverse( get_ancestors( $category->term_id, 'category', 'taxonomy' ) );
			if ( null === $deepest || count( $ancestors ) > count( $trail ) ) {
				$deepest = $category;
				$trail   = $ancestors;
			}
		}
		if ( null === $deepest ) {
			return array();
		}
		/**
		 * Filters the category that gives the breadcrumb (e.g. an SEO plugin's primary category).
		 *
		 * @param WP_Term $deepest The deepest of the post's categories.
		 * @param WP_Post $post    The post.
		 */
		$primary = apply_filters( 'syndicate_primary_category', $deepest, $post );
		if ( $primary instanceof WP_Term && $primary->term_id !== $deepest->term_id ) {
			$deepest = $primary;
			$trail   = array_reverse( get_ancestors( $primary->term_id, 'category', 'taxonomy' ) );
		}
		$sections = array();
		foreach ( array_merge( $trail, array( $deepest->term_id ) ) as $term_id ) {
			$term  = get_term( (int) $term_id, 'category' );
			$named = $term instanceof WP_Term ? self::named( $term ) : null;
			if ( null !== $named ) {
				$sections[] = $named;
			}
		}
		return array_slice( $sections, 0, self::MAX_SECTIONS );
	}

	/**
	 * The post's tags.
	 *
	 * @param WP_Post $post The post.
	 * @return array<array<string, string>>
	 */
	private static function tags( WP_Post $post ): array {
		$tags = array();
		foreach ( (array) get_the_tags( $post->ID ) as $tag ) {
			$named = $tag instanceof WP_Term ? self::named( $tag ) : null;
			if ( null !== $named ) {
				$tags[] = $named;
			}
		}
		return array_slice( $tags, 0, self::MAX_TAGS );
	}

	/**
	 * The post's author (filterable for co-author plugins); no e-mail address is sent.
	 *
	 * @param WP_Post $post The post.
	 * @return array<array<string, string>>
	 */
	private static function authors( WP_Post $post ): array {
		$authors = array();
		$user    = get_userdata( (int) $post->post_author );
		if ( $user ) {
			$name = self::text( (string) $user->display_name, self::MAX_NAME );
			if ( '' !== $name ) {
				$authors[] = array(
					'name' => $name,
					'slug' => mb_substr( rawurldecode( (string) $user->user_nicename ), 0, self::MAX_SLUG ),
					'url'  => (string) get_author_posts_url( $user->ID, $user->user_nicename ),
				);
			}
		}
		/**
		 * Filters the authors of a post (`name`, `slug`, `url` each).
		 *
		 * @param array   $authors The authors.
		 * @param WP_Post $post    The post.
		 */
		$authors = (array) apply_filters( 'syndicate_authors', $authors, $post );
		return array_slice( $authors, 0, self::MAX_AUTHORS );
	}

	/**
	 * The featured image with its caption and credit.
	 *
	 * @param WP_Post $post The post.
	 * @return array<string, mixed>
	 */
	private static function image( WP_Post $post ): array {
		$id  = (int) get_post_thumbnail_id( $post );
		$url = $id ? wp_get_attachment_url( $id ) : false;
		if ( ! $url || ! preg_match( '#^https?://#i', $url ) ) {
			return array();
		}
		$image = array( 'url' => $url );
		$mime  = (string) get_post_mime_type( $id );
		if ( preg_match( '#^image/[a-z0-9.+-]+$#', $mime ) ) {
			$image['type'] = $mime;
		}
		$meta = wp_get_attachment_metadata( $id );
		if ( is_array( $meta ) && ! empty( $meta['width'] ) && ! empty( $meta['height'] ) ) {
			$image['width']  = max( 1, min( 100000, (int) $meta['width'] ) );
			$image['height'] = max( 1, min( 100000, (int) $meta['height'] ) );
		}
		$caption = self::text( (string) wp_get_attachment_caption( $id ), self::MAX_CAPTION );
		if ( '' !== $caption ) {
			$image['caption'] = $caption;
		}
		$credit = self::credit( $id, is_array( $meta ) ? $meta : array() );
		if ( '' !== $credit ) {
			$image['credit'] = $credit;
		}
		return $image;
	}

	/**
	 * An image's credit: its Credit field, else the IPTC credit WordPress read on upload, else
	 * its description.
	 *
	 * @param int   $id   The attachment.
	 * @param array $meta Its metadata.
	 * @return string
	 */
	public static function credit( int $id, array $meta ): string {
		$candidates = array(
			(string) get_post_meta( $id, '_syndicate_credit', true ),
			(string) ( $meta['image_meta']['credit'] ?? '' ),
			(string) get_post_field( 'post_content', $id ),
		);
		foreach ( $candidates as $candidate ) {
			$credit = self::text( $candidate, self::MAX_CREDIT );
			if ( '' !== $credit ) {
				return $credit;
			}
		}
		return '';
	}

	/**
	 * The post's first audio enclosure (the `enclosure` meta WordPress writes), as a podcast
	 * episode.
	 *
	 * @param WP_Post $post The post.
	 * @return array<string, mixed>
	 */
	private static function audio( WP_Post $post ): array {
		foreach ( (array) get_post_meta( $post->ID, 'enclosure', false ) as $enclosure ) {
			$lines = array_map( 'trim', explode( "\n", (string) $enclosure ) );
			$url   = $lines[0] ?? '';
			$type  = strtolower( $lines[2] ?? '' );
			if ( ! preg_match( '#^https?://\S+$#i', $url ) || ! preg_match( '#^audio/[a-z0-9.+-]+$#', $type ) ) {
				continue;
			}
			$audio = array(
				'url'    => $url,
				'type'   => $type,
				'length' => max( 0, (int) ( $lines[1] ?? 0 ) ),
			);
			$attachment = attachment_url_to_postid( $url );
			$meta       = $attachment ? wp_get_attachment_metadata( $attachment ) : false;
			if ( is_array( $meta ) && ! empty( $meta['length'] ) ) {
				$audio['duration'] = max( 0, min( 10000000, (int) $meta['length'] ) );
			}
			return $audio;
		}
		return array();
	}

	/**
	 * The comment count and where the comments are.
	 *
	 * @param WP_Post $post The post.
	 * @return array<string, mixed>
	 */
	private static function comments( WP_Post $post ): array {
		$count = (int) $post->comment_count;
		if ( 0 === $count && ! comments_open( $post ) ) {
			return array();
		}
		return array(
			'count' => max( 0, $count ),
			'url'   => (string) get_permalink( $post ) . '#comments',
		);
	}

	/**
	 * The share message and networks the editor chose in the meta box. A post first published
	 * before the plugin was activated is shared nowhere unless the editor chose networks.
	 *
	 * @param WP_Post $post The post.
	 * @return array<string, mixed>
	 */
	private static function share( WP_Post $post ): array {
		$share   = array();
		$message = trim( (string) get_post_meta( $post->ID, '_syndicate_share_message', true ) );
		if ( '' !== $message ) {
			$share['message'] = mb_substr( $message, 0, self::MAX_MESSAGE );
		}
		if ( 'chosen' === get_post_meta( $post->ID, '_syndicate_share_mode', true ) ) {
			$chosen            = (array) get_post_meta( $post->ID, '_syndicate_share_networks', true );
			$share['networks'] = array_values( array_intersect( self::NETWORKS, $chosen ) );
		} elseif ( self::predates_plugin( $post ) ) {
			$share['networks'] = array();
		}
		return isset( $share['networks'] ) || isset( $share['message'] ) ? $share : array();
	}

	/**
	 * Whether the post was published before the plugin was first activated (and never sent).
	 *
	 * @param WP_Post $post The post.
	 * @return bool
	 */
	private static function predates_plugin( WP_Post $post ): bool {
		$activated = (int) get_option( 'syndicate_activated_at', 0 );
		$published = (int) get_post_time( 'U', true, $post );
		return $activated > 0 && $published > 0 && $published < $activated - 60
			&& '' === (string) get_post_meta( $post->ID, '_syndicate_version', true );
	}
}
