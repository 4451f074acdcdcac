<?xml version="1.0" encoding="UTF-8"?>
<!-- Turns an RSS 2.0 or Atom 1.0 feed opened in a browser into a readable page.
     Feed readers ignore the xml-stylesheet instruction; browsers that still run XSLT apply this. -->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:atom="http://www.w3.org/2005/Atom"
    xmlns:media="http://search.yahoo.com/mrss/"
    exclude-result-prefixes="atom media">
  <xsl:output method="html" encoding="UTF-8" indent="yes" doctype-system="about:legacy-compat"/>

  <xsl:template match="/">
    <html lang="en">
      <head>
        <meta charset="utf-8"/>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <title><xsl:value-of select="rss/channel/title | atom:feed/atom:title"/> (feed)</title>
        <style>
          body { font: 16px/1.5 system-ui, sans-serif; max-width: 46rem; margin: 0 auto; padding: 1rem; color: #222; }
          .about { background: #fff8dc; border: 1px solid #e6d690; padding: .75rem 1rem; border-radius: 6px; }
          article { border-bottom: 1px solid #ddd; padding: .75rem 0; }
          h2 { font-size: 1.15rem; margin: 0 0 .25rem; }
          time { color: #666; font-size: .9rem; }
          img { max-width: 100%; height: auto; }
        </style>
      </head>
      <body>
        <p class="about">This is a web feed. Copy its address from the address bar into your feed
          reader to follow it.</p>
        <xsl:apply-templates select="rss/channel | atom:feed"/>
      </body>
    </html>
  </xsl:template>

  <xsl:template match="channel">
    <h1 class="feed-title"><xsl:value-of select="title"/></h1>
    <p><xsl:value-of select="description"/></p>
    <p><a href="{link}">Visit the site</a></p>
    <xsl:for-each select="item">
      <article class="entry">
        <h2><a href="{link}"><xsl:value-of select="title"/></a></h2>
        <time><xsl:value-of select="pubDate"/></time>
        <xsl:if test="media:content">
          <p><img src="{media:content/@url}" alt="{media:content/media:description}"/></p>
        </xsl:if>
        <p><xsl:value-of select="description"/></p>
      </article>
    </xsl:for-each>
  </xsl:template>

  <xsl:template match="atom:feed">
    <h1 class="feed-title"><xsl:value-of select="atom:title"/></h1>
    <p><xsl:value-of select="atom:subtitle"/></p>
    <p><a href="{atom:link[@rel='alternate']/@href}">Visit the site</a></p>
    <xsl:for-each select="atom:entry">
      <article class="entry">
        <h2><a href="{atom:link[not(@rel) or @rel='alternate']/@href}"><xsl:value-of select="atom:title"/></a></h2>
        <time><xsl:value-of select="atom:published"/></time>
        <p><xsl:value-of select="atom:summary"/></p>
      </article>
    </xsl:for-each>
  </xsl:template>
</xsl:stylesheet>
